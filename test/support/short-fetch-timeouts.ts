/**
 * Preloaded into a `sluice` CLI process by tests (`node --import`): gives
 * the process's fetch (Node's undici) headers and body timeouts of
 * SLUICE_TEST_FETCH_TIMEOUT_MS instead of undici's 300 s, so a test can
 * show in seconds what a node answering after 300 s does to the CLI.
 */
import { Agent, setGlobalDispatcher } from 'undici';

const timeoutMs = Number(process.env['SLUICE_TEST_FETCH_TIMEOUT_MS'] ?? '1000');
setGlobalDispatcher(new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs }));
