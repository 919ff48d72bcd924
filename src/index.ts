/**
 * The public surface of sluice as a library: start a node in-process, its
 * configuration, and the error type callers switch on. Everything else is
 * internal and may change.
 */
export { SluiceNode } from './sluice-node.ts';
export { DEFAULT_CONFIG, resolveConfig } from './config.ts';
export type { NodeConfig } from './config.ts';
export { SluiceError, ERROR_CODES, isSluiceError } from './core/errors.ts';
export type { ErrorCode, ErrorDetail } from './core/errors.ts';
export type { TableDef, FieldDef, FieldType } from './core/schema/table-def.ts';
