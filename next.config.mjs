/** @type {import('next').NextConfig} */
const nextConfig = {
  // The console is a GraphQL client; the server-side packages stay out of its bundles.
  serverExternalPackages: ['graphql', 'pg', 'kysely', 'agenda', '@pothos/core', '@node-rs/argon2', '@electric-sql/pglite'],
  // `npm run typecheck` (tsc) checks the whole project, so the build does not type-check again.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  // Dev reload also for people who open http://127.0.0.1:<port> rather than localhost.
  allowedDevOrigins: ['127.0.0.1'],
  reactStrictMode: true,
};

export default nextConfig;
