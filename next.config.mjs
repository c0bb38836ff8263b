/** @type {import('next').NextConfig} */
const nextConfig = {
  // The console is a GraphQL client; the server-side packages stay out of its bundles.
  serverExternalPackages: ['graphql', 'pg', 'kysely', 'agenda', '@pothos/core', '@node-rs/argon2', '@electric-sql/pglite'],
  // `npm run typecheck` (tsc) checks the whole project, so the build does not type-check again.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
