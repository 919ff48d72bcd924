#!/usr/bin/env node
// sluice runs its TypeScript sources directly, which needs Node >= 24
// (the project's own node, which `npx sluice` and `npm start` put first on PATH).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`sluice needs Node 24 or newer (this is ${process.version}); run it as \`npx sluice\` or \`npm start\` from the project, after \`npm ci\`\n`);
  process.exit(1);
}
await import('../src/cli/main.ts');
