import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backlogWarning } from '../../../src/api/http/listen-backlog.ts';

test('a backlog past net.core.somaxconn is warned about with the sysctl to raise it; one within it, or an unknown cap, is not', () => {
  assert.equal(backlogWarning(4096, '4096\n'), undefined);
  assert.equal(backlogWarning(511, '4096\n'), undefined);
  assert.match(backlogWarning(8192, '4096\n') ?? '', /--http-backlog 8192 is past net\.core\.somaxconn 4096.*sysctl -w net\.core\.somaxconn=8192/);
  assert.equal(backlogWarning(8192, undefined), undefined, 'no /proc');
  assert.equal(backlogWarning(8192, 'garbage'), undefined);
});
