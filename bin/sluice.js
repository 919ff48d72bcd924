#!/usr/bin/env node
// sluice runs its TypeScript sources directly, which needs Node >= 24
// (the project's own node, which `npx sluice` and `npm start` put first on PATH).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`sluice needs Node 24 or newer (this is ${process.version}); run it as \`npx sluice\` or \`npm start\` from the project, after \`npm ci\`\n`);
  process.exit(1);
}
// A start loads some 300 TypeScript modules; V8's compiled code for them is kept on disk (NODE_COMPILE_CACHE, else
// the system's temporary directory), checked against each file's contents (measured: `--help` 0.9 -> 0.18 s, a node's start and stop 1.09 -> 0.70 s).
// Worker threads and child processes inherit the setting through the environment.
const { default: module } = await import('node:module');
if (module.enableCompileCache !== undefined) {
  const { directory } = module.enableCompileCache();
  if (directory !== undefined && process.env.NODE_COMPILE_CACHE === undefined) process.env.NODE_COMPILE_CACHE = directory;
}
await import('../src/cli/main.ts');
