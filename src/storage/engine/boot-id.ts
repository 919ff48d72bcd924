/**
 * The OS boot id: it changes on every boot, so comparing the id recorded at
 * open with the current one tells a process crash (page cache intact) from
 * an OS crash (unsynced writes may be lost, in any order). LMDB's lmdb-js
 * patch uses the same file for the same purpose.
 */
import fs from 'node:fs';

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** The current boot id, or '' where the OS does not expose one (then every unclean stop counts as an OS crash). */
export function readBootId(): string {
  try {
    return fs.readFileSync(BOOT_ID_PATH, 'latin1').trim();
  } catch {
    return '';
  }
}
