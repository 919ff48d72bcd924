/**
 * A token given as a basic-auth password or an API key (the shipper
 * protocol routes): rewritten to the bearer form, anything else left as
 * it is so it fails as the malformed credential it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asBearer, isShipperScheme } from '../../src/security/shipper-credentials.ts';

const basic = (userPass: string): string => `Basic ${Buffer.from(userPass).toString('base64')}`;

test('the basic-auth password and the API key become the bearer token; the user name is ignored', () => {
  assert.equal(asBearer(basic('rsyslog:slc_abc')), 'Bearer slc_abc');
  assert.equal(asBearer(basic(':slc_abc')), 'Bearer slc_abc');
  assert.equal(asBearer(basic('u:pass:with:colons')), 'Bearer pass:with:colons');
  assert.equal(asBearer('basic ' + Buffer.from('u:t').toString('base64')), 'Bearer t', 'the scheme is case-insensitive');
  assert.equal(asBearer('ApiKey slc_abc'), 'Bearer slc_abc');
});

test('other values are left unchanged', () => {
  assert.equal(asBearer('Bearer slc_abc'), 'Bearer slc_abc');
  assert.equal(asBearer(basic('no-colon')), basic('no-colon'));
  assert.equal(asBearer('Basic'), 'Basic');
  assert.equal(asBearer('Digest username="x"'), 'Digest username="x"');
  assert.equal(isShipperScheme('Bearer x'), false);
  assert.equal(isShipperScheme('Basic eA=='), true);
  assert.equal(isShipperScheme('APIKEY x'), true);
});
