/**
 * What a poll compares to tell whether certificate files changed without
 * reading them: for each path, where its symlinks lead and that file's
 * device, inode, size and mtime. Kubernetes mounts a secret as symlinks
 * through `..data`, which it swaps atomically to a new directory: the path
 * stays, its target changes.
 */
import { realpath, stat } from 'node:fs/promises';

/** A string that changes whenever one of `files` (or what its symlinks point to) is replaced or rewritten. */
export async function fileSignature(files: readonly string[]): Promise<string> {
  const parts = await Promise.all(files.map(one));
  return parts.join('|');
}

async function one(file: string): Promise<string> {
  try {
    const real = await realpath(file);
    const s = await stat(real, { bigint: true });
    return `${real}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch (err) {
    // A file missing mid-swap is a state too: its return is a change, and the attempt in between fails and is counted.
    return `${file}:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}
