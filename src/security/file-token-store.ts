/**
 * A single node's tokens: `<data-dir>/auth/tokens.json` (mode 0600),
 * replaced atomically on every change. Only this process writes it while
 * it runs (the data dir lock); `sluice token reset-admin` writes it while
 * the node is stopped.
 */
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../core/errors.ts';
import { readJsonFile, writeFileAtomic } from '../storage/atomic-file.ts';
import { isTokenRecord, laterOf, type TokenRecord, type TokenStore } from './token-store.ts';

const FORMAT = 1;

/** The tokens file of a data dir. */
export function tokensFile(dataDir: string): string {
  return path.join(dataDir, 'auth', 'tokens.json');
}

/** Tokens in a JSON file. */
export class FileTokenStore implements TokenStore {
  private readonly file: string;
  private readonly records = new Map<string, TokenRecord>();

  constructor(dataDir: string) {
    this.file = tokensFile(dataDir);
  }

  async start(): Promise<readonly TokenRecord[]> {
    const raw = (await readJsonFile(this.file)) as { format?: number; tokens?: unknown[] } | undefined;
    if (raw !== undefined) {
      if (raw.format !== FORMAT || !Array.isArray(raw.tokens)) throw new SluiceError('STORAGE_IO', `${this.file} has an unknown format`);
      for (const r of raw.tokens) {
        if (!isTokenRecord(r)) throw new SluiceError('STORAGE_IO', `${this.file} holds a malformed token record`);
        this.records.set(r.id, r);
      }
    }
    return [...this.records.values()];
  }

  async create(record: TokenRecord): Promise<boolean> {
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, record);
    await this.save();
    return true;
  }

  async update(record: TokenRecord): Promise<void> {
    const known = this.records.get(record.id);
    if (known === undefined) throw new SluiceError('NOT_FOUND', `no token ${record.id}`);
    this.records.set(record.id, laterOf(known, record));
    await this.save();
  }

  async stop(): Promise<void> {
    // Nothing to follow: this process is the only writer.
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ format: FORMAT, tokens: [...this.records.values()] }, null, 1)}\n`, 0o600);
    // A file made by an older version may have had wider permissions.
    await chmod(this.file, 0o600);
  }
}
