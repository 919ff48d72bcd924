/**
 * The certificate library: issuing, identity parsing, the validated
 * loader and the certs-dir inspection. The certificates are proven to
 * work by real mutual-TLS handshakes, not only by parsing them.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSluiceError } from '../../src/core/errors.ts';
import { CertError } from '../../src/security/certs/cert-error.ts';
import { CA_CERT, NODE_CERT, NODE_KEY, writeCertAndKey, writeNewFile } from '../../src/security/certs/certs-dir.ts';
import { caClusterId, peerIdentity } from '../../src/security/certs/identity.ts';
import { inspectCertsDir } from '../../src/security/certs/inspect.ts';
import { createCa, createClientCert, createNodeCert, type IssuedCert, type SigningCa } from '../../src/security/certs/issue.ts';
import { SIGNING_ALGORITHM, generateKeyPair, signingKeyFromPem } from '../../src/security/certs/keys.ts';
import { parseLifetime } from '../../src/security/certs/lifetime.ts';
import { loadNodeCerts } from '../../src/security/certs/load-cert-pair.ts';
import { parseSubjectAltNames } from '../../src/security/certs/subject-alt-names.ts';
import { x509 } from '../../src/security/certs/x509.ts';
import { handshake } from '../support/tls-handshake.ts';
import { tempDir } from '../support/temp-dir.ts';

const DAY_MS = 86_400_000;
const inDays = (days: number): Date => new Date(Date.now() + days * DAY_MS);
const signing = (ca: IssuedCert): SigningCa => ({ certPem: ca.certPem, keyPem: ca.keyPem });
const side = (ca: IssuedCert, leaf?: IssuedCert) => ({ ca: ca.certPem, ...(leaf === undefined ? {} : { cert: leaf.certPem, key: leaf.keyPem }) });

describe('certificates', () => {
  let ca: IssuedCert;
  let foreignCa: IssuedCert;
  let n1: IssuedCert;
  let n2: IssuedCert;
  let alice: IssuedCert;
  let foreignNode: IssuedCert;
  let expiredNode: IssuedCert;

  before(async () => {
    ca = await createCa({ clusterId: 'c1', notAfter: inDays(3650) });
    // Same cluster id, another CA: trust must come from the CA, not from names.
    foreignCa = await createCa({ clusterId: 'c1', notAfter: inDays(3650) });
    const hosts = ['127.0.0.1', 'localhost', '::1'];
    n1 = await createNodeCert(signing(ca), { nodeId: 'n1', hosts, notAfter: inDays(365) });
    n2 = await createNodeCert(signing(ca), { nodeId: 'n2', hosts, notAfter: inDays(365) });
    alice = await createClientCert(signing(ca), { name: 'alice', notAfter: inDays(90) });
    foreignNode = await createNodeCert(signing(foreignCa), { nodeId: 'n2', hosts, notAfter: inDays(365) });
    expiredNode = await createNodeCert(signing(ca), { nodeId: 'n2', hosts, notBefore: inDays(-30), notAfter: inDays(-1) });
  });

  test('the CA is a P-256 CA with keyCertSign and records its cluster id', () => {
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.equal(caClusterId(cert), 'c1');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.checkIssued(cert) && cert.verify(cert.publicKey), true, 'self-signed');
    const parsed = new x509.X509Certificate(ca.certPem);
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    assert.ok(usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0);
    assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.ca, true);
    assert.equal(peerIdentity(cert), undefined, 'a CA is no peer');
  });

  test('node and client certificates carry their role in a SAN URI and the right EKU', () => {
    const node = new X509Certificate(n1.certPem);
    assert.deepEqual(peerIdentity(node), { clusterId: 'c1', role: 'node', name: 'n1' });
    assert.deepEqual(parseSubjectAltNames(node.subjectAltName), [
      { type: 'URI', value: 'sluice://c1/node/n1' },
      { type: 'IP Address', value: '127.0.0.1' },
      { type: 'DNS', value: 'localhost' },
      { type: 'IP Address', value: '0:0:0:0:0:0:0:1' },
    ]);
    assert.deepEqual(node.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(node.ca, false);
    const client = new X509Certificate(alice.certPem);
    assert.deepEqual(peerIdentity(client), { clusterId: 'c1', role: 'client', name: 'alice' });
    assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.deepEqual(peerIdentity(client.raw), { clusterId: 'c1', role: 'client', name: 'alice' }, 'raw DER as from getPeerCertificate().raw');
  });

  test('mTLS: node n2 connects to node n1; each side reads the other as a node of the cluster', async () => {
    const out = await handshake(side(ca, n1), side(ca, n2));
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.deepEqual(out.clientIdentity, { clusterId: 'c1', role: 'node', name: 'n2' });
    assert.deepEqual(out.serverIdentity, { clusterId: 'c1', role: 'node', name: 'n1' });
  });

  test('mTLS: a client certificate is accepted and reads as role client', async () => {
    const out = await handshake(side(ca, n1), side(ca, alice));
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.deepEqual(out.clientIdentity, { clusterId: 'c1', role: 'client', name: 'alice' });
  });

  test('mTLS: a certificate from a foreign CA fails the handshake', async () => {
    const out = await handshake(side(ca, n1), side(ca, foreignNode));
    assert.equal(out.ok, false);
    assert.match(out.serverError ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });

  test('mTLS: an expired node certificate fails the handshake', async () => {
    assert.ok(new X509Certificate(expiredNode.certPem).validToDate < new Date());
    const out = await handshake(side(ca, n1), side(ca, expiredNode));
    assert.equal(out.ok, false);
    assert.match(out.serverError ?? '', /CERT_HAS_EXPIRED/);
  });

  test('mTLS: no client certificate fails the handshake', async () => {
    const out = await handshake(side(ca, n1), side(ca));
    assert.equal(out.ok, false);
    assert.match(out.serverError ?? '', /did not return a certificate/);
  });

  test('a client certificate cannot serve: its EKU lacks serverAuth', async () => {
    const out = await handshake(side(ca, alice), side(ca, n2));
    assert.equal(out.ok, false);
    assert.match(out.clientError ?? '', /purpose/i);
  });

  test('peerIdentity refuses certificates that are ambiguous or whose EKU does not fit the role', async () => {
    // Certificates our CA would never issue, signed by it directly, as a compromised or careless issuer might.
    const odd = async (uris: string[], usages: string[]): Promise<X509Certificate> => {
      const keys = await generateKeyPair();
      const cert = await x509.X509CertificateGenerator.create({
        subject: 'CN=odd',
        issuer: new x509.X509Certificate(ca.certPem).subjectName,
        notAfter: inDays(1),
        publicKey: keys.publicKey,
        signingKey: signingKeyFromPem(ca.keyPem, 'ca.key'),
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions: [new x509.ExtendedKeyUsageExtension(usages), new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))],
      });
      return new X509Certificate(cert.toString('pem'));
    };
    const both = [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
    assert.deepEqual(peerIdentity(await odd(['sluice://c1/node/n9'], both)), { clusterId: 'c1', role: 'node', name: 'n9' }, 'the control case parses');
    assert.equal(peerIdentity(await odd(['sluice://c1/node/n1', 'sluice://c1/node/n2'], both)), undefined, 'two node URIs');
    assert.equal(peerIdentity(await odd(['sluice://c1/node/n1, URI:sluice://c1/node/n2'], both)), undefined, 'a comma smuggled into one URI');
    assert.equal(peerIdentity(await odd(['sluice://c1/node/n1'], [x509.ExtendedKeyUsage.clientAuth])), undefined, 'a node URI without serverAuth');
    assert.equal(peerIdentity(await odd(['sluice://c1/admin/root'], both)), undefined, 'an unknown role');
    assert.equal(peerIdentity(await odd(['https://c1/node/n1'], both)), undefined, 'another scheme');
    assert.equal(peerIdentity(Buffer.from('not a certificate')), undefined);
  });

  test('parseSubjectAltNames honours the JSON quoting Node applies to odd values', () => {
    assert.deepEqual(parseSubjectAltNames('URI:"sluice://a/node/x\\u002c URI:sluice://a/node/y", DNS:b, IP Address:10.0.0.1'), [
      { type: 'URI', value: 'sluice://a/node/x, URI:sluice://a/node/y' },
      { type: 'DNS', value: 'b' },
      { type: 'IP Address', value: '10.0.0.1' },
    ]);
    assert.deepEqual(parseSubjectAltNames(undefined), []);
  });

  test('lifetimes: y, d and h; anything else is INVALID_ARGUMENT', () => {
    assert.equal(parseLifetime('10y'), 10 * 365 * DAY_MS);
    assert.equal(parseLifetime('90d'), 90 * DAY_MS);
    assert.equal(parseLifetime('12h'), 12 * 3_600_000);
    for (const bad of ['', '0d', '5w', '1.5y', '-1d', '101y', 'y']) assert.throws(() => parseLifetime(bad), (err) => isSluiceError(err, 'INVALID_ARGUMENT'), bad);
  });

  test('bad names and hosts are INVALID_ARGUMENT; a leaf never outlives its CA', async () => {
    await assert.rejects(createCa({ clusterId: 'a/b', notAfter: inDays(1) }), (err) => isSluiceError(err, 'INVALID_ARGUMENT'));
    await assert.rejects(createNodeCert(signing(ca), { nodeId: 'n 1', hosts: ['h'], notAfter: inDays(1) }), (err) => isSluiceError(err, 'INVALID_ARGUMENT'));
    await assert.rejects(createNodeCert(signing(ca), { nodeId: 'n1', hosts: [], notAfter: inDays(1) }), (err) => isSluiceError(err, 'INVALID_ARGUMENT'));
    await assert.rejects(createNodeCert(signing(ca), { nodeId: 'n1', hosts: ['bad host'], notAfter: inDays(1) }), (err) => isSluiceError(err, 'INVALID_ARGUMENT'));
    await assert.rejects(createNodeCert({ certPem: ca.certPem, keyPem: foreignCa.keyPem }, { nodeId: 'n1', hosts: ['h'], notAfter: inDays(1) }), (err) => err instanceof CertError && /not the key of the CA/.test(err.message));
    await assert.rejects(createNodeCert({ certPem: n1.certPem, keyPem: n1.keyPem }, { nodeId: 'n1', hosts: ['h'], notAfter: inDays(1) }), /not a sluice CA/);
    const long = await createClientCert(signing(ca), { name: 'bob', notAfter: inDays(100 * 365) });
    assert.equal(long.notAfter.getTime(), new X509Certificate(ca.certPem).validToDate.getTime());
  });

  describe('loadNodeCerts', () => {
    const write = (dir: string, caPem: string, leaf: IssuedCert, keyMode = 0o600): void => {
      writeFileSync(path.join(dir, CA_CERT), caPem);
      writeFileSync(path.join(dir, NODE_CERT), leaf.certPem);
      writeFileSync(path.join(dir, NODE_KEY), leaf.keyPem, { mode: keyMode });
      chmodSync(path.join(dir, NODE_KEY), keyMode);
    };

    test('a good pair gives PEM strings that serve TLS, and the identity', async (t) => {
      const dir = tempDir(t);
      await writeNewFile(path.join(dir, CA_CERT), ca.certPem, 0o644);
      await writeCertAndKey(path.join(dir, NODE_CERT), path.join(dir, NODE_KEY), n1);
      assert.equal(statSync(path.join(dir, NODE_KEY)).mode & 0o777, 0o600);
      const loaded = await loadNodeCerts(dir);
      assert.deepEqual(loaded.identity, { clusterId: 'c1', role: 'node', name: 'n1' });
      assert.equal(loaded.tls.cert, n1.certPem);
      assert.equal(loaded.tls.key, n1.keyPem);
      const out = await handshake(loaded.tls, side(ca, n2));
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal((await loadNodeCerts(dir, { clusterId: 'c1' })).identity.name, 'n1');
      await assert.rejects(loadNodeCerts(dir, { clusterId: 'c2' }), /not c2/);
    });

    test('a CA bundle (rotation) verifies certificates of either CA, over TLS too', async (t) => {
      // The second bundle is glued without a newline between the blocks, which OpenSSL cannot read as it is: the loader re-joins them.
      for (const bundle of [`${foreignCa.certPem}${ca.certPem}`, `${foreignCa.certPem.trimEnd()}${ca.certPem}`]) {
        const dir = tempDir(t);
        write(dir, bundle, n1);
        const loaded = await loadNodeCerts(dir);
        assert.equal(loaded.identity.name, 'n1');
        // Both CAs have the same subject name: OpenSSL tells them apart by the key ids.
        const out = await handshake(loaded.tls, { ca: loaded.tls.ca, cert: foreignNode.certPem, key: foreignNode.keyPem });
        assert.equal(out.ok, true, JSON.stringify(out));
        assert.deepEqual(out.clientIdentity, { clusterId: 'c1', role: 'node', name: 'n2' });
      }
    });

    test('a key open to group or others is refused with the fix', async (t) => {
      const dir = tempDir(t);
      write(dir, ca.certPem, n1, 0o640);
      await assert.rejects(loadNodeCerts(dir), (err) => err instanceof CertError && /readable by group or others \(mode 0640\).*chmod 600/.test(err.message));
    });

    test('refused: a key that is not the certificate\'s, a foreign CA, an expired certificate, a client certificate, a time before notBefore', async (t) => {
      const cases: { what: string; leaf: IssuedCert; error: RegExp; now?: Date }[] = [
        { what: 'key mismatch', leaf: { ...n1, keyPem: n2.keyPem }, error: /is not the key of/ },
        { what: 'foreign CA', leaf: foreignNode, error: /was not issued by a CA in/ },
        { what: 'expired', leaf: expiredNode, error: /expired on/ },
        { what: 'client role', leaf: alice, error: /client certificate \(alice\); a node certificate is needed/ },
        { what: 'not yet valid', leaf: n1, error: /not valid before/, now: inDays(-2) },
      ];
      for (const c of cases) {
        const dir = tempDir(t);
        write(dir, ca.certPem, c.leaf);
        await assert.rejects(loadNodeCerts(dir, c.now === undefined ? {} : { now: c.now }), (err) => err instanceof CertError && c.error.test(err.message), c.what);
      }
    });
  });

  test('inspectCertsDir reports roles, key matches, and problems: under 30 days, mismatched key, broken chain', async (t) => {
    const dir = tempDir(t);
    await writeNewFile(path.join(dir, CA_CERT), ca.certPem, 0o644);
    await writeCertAndKey(path.join(dir, NODE_CERT), path.join(dir, NODE_KEY), n1);
    const fresh = await inspectCertsDir(dir);
    assert.deepEqual(fresh.problems, []);
    assert.deepEqual(fresh.certs.map((c) => [c.file, c.role, c.key, c.issuedBy]), [
      ['ca.crt', 'ca', 'not-checked', 'self'],
      ['node.crt', 'node', 'matches', 'ca.crt'],
    ]);
    const short = await createClientCert(signing(ca), { name: 'short', notAfter: inDays(10) });
    await writeCertAndKey(path.join(dir, 'client.short.crt'), path.join(dir, 'client.short.key'), short);
    writeFileSync(path.join(dir, 'client.other.crt'), foreignNode.certPem);
    writeFileSync(path.join(dir, 'client.other.key'), n2.keyPem, { mode: 0o600 });
    const report = await inspectCertsDir(dir);
    const problems = report.problems.join('\n');
    assert.match(problems, /client\.short\.crt: expires in 9 days/);
    assert.match(problems, /client\.other\.crt: chain broken/);
    assert.match(problems, /client\.other\.crt: its key .* does not match it/);
    assert.equal(report.certs.find((c) => c.file === 'client.short.crt')?.daysLeft, 9);
    assert.deepEqual((await inspectCertsDir(dir, { minDays: 5 })).problems.filter((p) => p.includes('short')), []);
    assert.equal(readFileSync(path.join(dir, NODE_KEY), 'utf8'), n1.keyPem);
  });
});
