/**
 * Authentication on the gRPC door. An interceptor checks the
 * `authorization` metadata of every Ingest call when its headers arrive,
 * before a message of up to 256 MiB is read; the handlers then check the
 * table scope of each batch, and re-check the token per batch of a stream
 * so a revocation stops a long-lived WriteStream at its next batch.
 * Health stays open; the internal Replica service is not a client door.
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import type { Authenticator, RequestFacts } from '../../security/authenticator.ts';
import type { Principal } from '../../security/token-registry.ts';
import { tableNeed } from '../../security/scopes.ts';
import { refuseCall } from './refuse-call.ts';

/** The facts of a gRPC call for the audit log. */
export function grpcFacts(path: string, peer: string, table?: string): RequestFacts {
  // getPeer() is "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000".
  const address = peer.replace(/^ipv[46]:/, '').replace(/:[0-9]+$/, '').replace(/^\[(.*)\]$/, '$1');
  return { address, method: 'POST', route: path, requestId: '', ...(table === undefined ? {} : { table }) };
}

/** Refuses Ingest calls (methods under `/<service>/`) without a valid token before their message is read. */
export function authInterceptor(auth: Authenticator, service: string): ServerInterceptor {
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (!method.path.startsWith(`/${service}/`)) return pass(metadata);
            try {
              auth.authenticate(authorizationOf(metadata), grpcFacts(method.path, call.getPeer()));
            } catch (err) {
              // Reset after the status like every refusal at the headers (refuse-call.ts): a client without a token
              // must not make the node read a message of up to the port's limit.
              refuseCall(call, isSluiceError(err) ? err : new SluiceError('UNAUTHENTICATED', 'missing or invalid bearer token'));
              return;
            }
            pass(metadata);
          },
        }),
    });
}

/** The caller of a call, checked for `write` on `table` (per request: a stream's batches may name different tables). */
export function authorizeWrite(auth: Authenticator, metadata: Metadata, path: string, peer: string, table: string): Principal {
  const facts = grpcFacts(path, peer, table);
  const principal = auth.authenticate(authorizationOf(metadata), facts);
  auth.authorize(principal, tableNeed('write', table), facts);
  return principal;
}

function authorizationOf(metadata: Metadata): string[] {
  return metadata.get('authorization').map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}
