/**
 * What a node does with the certificate reloaders' reports (the public
 * listeners' and the peer listener's): the expiry gauge and reload counter
 * per listener, an audit line per reload outcome
 * (a certificate swap is a security event), and log lines for operators.
 */
import type { Logger } from 'pino';
import type { AuditLog } from '../security/audit-log.ts';
import type { ReloadObserver } from '../security/tls/cert-reloader.ts';
import type { NodeMetrics } from './metrics.ts';

const DAY_MS = 86_400_000;

/** The reloader's observer for a node with these metrics, audit log and log. */
export function tlsObserver(metrics: NodeMetrics, audit: AuditLog, log: Logger): ReloadObserver {
  return {
    onServing: (listener, pair) => metrics.tlsCertExpiry.set({ listener }, pair.notAfter.getTime() / 1000),
    onReload: ({ listener, result, trigger, pair, error }) => {
      metrics.tlsReloads.inc({ listener, result });
      const serving = { serial: pair.serialNumber, fingerprint: pair.fingerprint256, notAfter: pair.notAfter.toISOString() };
      audit.write('tls_reloaded', { listener, result, trigger, ...serving, ...(error === undefined ? {} : { reason: error.message }) });
      if (error === undefined) log.info({ event: 'tls_reloaded', listener, trigger, subject: pair.subject, ...serving }, 'TLS certificate reloaded');
      else log.error({ event: 'tls_reload_failed', listener, trigger, err: error, ...serving }, 'TLS certificate not reloaded; the last good one keeps serving');
    },
    onExpiring: (pair, msLeft, listeners) => {
      const days = Math.floor(msLeft / DAY_MS);
      const when = msLeft <= 0 ? `expired on ${pair.notAfter.toISOString()}` : `expires in ${days} days (${pair.notAfter.toISOString()})`;
      const which = listeners.includes('peer') ? 'the node certificate of the peer listener (--certs-dir)' : 'the TLS certificate';
      log.warn({ event: 'tls_cert_expiring', listeners, subject: pair.subject, serial: pair.serialNumber, notAfter: pair.notAfter.toISOString(), daysLeft: days }, `${which} ${when}: replace the files (they are reloaded)`);
    },
  };
}
