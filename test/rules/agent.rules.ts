import type { Rules } from './rule';

const RUN = '00000000-0000-4000-8000-000000000000';

/** The agent protocol (graphql/agent.ts): for a host's agent only, refused to every person. */
export const rules: Rules = {
  'Mutation.agentHello': { minimum: 'agent', operation: `mutation { agentHello(hostname: "roles", os: "test", agentVersion: "0.0.0") { hostId } }` },
  'Mutation.agentHeartbeat': { minimum: 'agent', operation: `mutation { agentHeartbeat }` },
  'Mutation.agentOutput': { minimum: 'agent', operation: `mutation { agentOutput(runId: "${RUN}", seq: 1, pieces: []) { seq } }` },
  'Mutation.agentStarted': { minimum: 'agent', operation: `mutation { agentStarted(runId: "${RUN}") }` },
  'Mutation.agentFinished': { minimum: 'agent', operation: `mutation { agentFinished(runId: "${RUN}", outcome: { state: SUCCEEDED, summary: "", outputBytes: 0, outputTruncated: false }) }` },
  'Subscription.agentRuns': { minimum: 'agent', operation: `subscription { agentRuns { kind } }` },
};
