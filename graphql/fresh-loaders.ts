/**
 * A subscription keeps one context (and so one set of DataLoaders, which cache) for its whole
 * life. This plugin clears those caches before each event is resolved, so every event shows the
 * objects as they are now — not as they were when the first event loaded them.
 */
import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { clearAllDataLoaders } from '@pothos/plugin-dataloader';
import type { GraphQLFieldResolver } from 'graphql';

// Pothos registers plugins by merging into its global namespace.
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      freshLoaders: FreshLoadersPlugin<Types>;
    }
  }
}

export class FreshLoadersPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (fieldConfig.kind !== 'Subscription') return resolver;
    return (parent, args, context, info) => {
      clearAllDataLoaders(context as object);
      return resolver(parent, args, context, info);
    };
  }
}

SchemaBuilder.registerPlugin('freshLoaders', FreshLoadersPlugin);
