/**
 * @peculiar/x509, ready to use on Node's WebCrypto. The library resolves its
 * algorithms through tsyringe, which throws at import unless a Reflect
 * metadata polyfill is loaded first, so this module imports the polyfill
 * before it (ES modules evaluate imports in order). Only certificate
 * issuing imports this: the server reads certificates with `node:crypto`
 * alone and never loads the polyfill.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
