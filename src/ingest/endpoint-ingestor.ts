/**
 * A request/response source (HTTP, gRPC): its records arrive as requests,
 * each answered once durable, so there is nothing to commit upstream. It
 * refuses when the node is full (OVERLOADED: 429 / RESOURCE_EXHAUSTED) and
 * counts what it wrote. Its lifecycle is its server's.
 */
import { newProgress, type Ingestor, type IngestorKind, type IngestorProgress, type IngestorState, type IngestorStatus } from './ingestor.ts';

/** Hooks that start and stop the server behind the endpoint. */
export interface EndpointHooks {
  readonly start?: () => Promise<void>;
  readonly stop?: () => Promise<void>;
}

/** An HTTP or gRPC endpoint as an Ingestor. */
export class EndpointIngestor implements Ingestor {
  readonly name: string;
  readonly kind: IngestorKind;
  /** Counted by the request handlers through IngestDoor.write. */
  readonly progress: IngestorProgress = newProgress();
  private state: IngestorState = 'starting';
  private readonly hooks: EndpointHooks;
  private stopping: Promise<void> | undefined;

  constructor(name: string, kind: IngestorKind, hooks: EndpointHooks = {}) {
    this.name = name;
    this.kind = kind;
    this.hooks = hooks;
  }

  async start(): Promise<void> {
    await this.hooks.start?.();
    this.state = 'running';
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping';
      await this.hooks.stop?.();
      this.state = 'stopped';
    })();
    return this.stopping;
  }

  status(): IngestorStatus {
    return { name: this.name, kind: this.kind, state: this.state, progress: { ...this.progress } };
  }
}
