import type { EngineApi } from "@brook/local-broker/engine";

export class GroupCoordinator {
  constructor(readonly engine: EngineApi) {}
  connectionClosed(_connection: string): void {}
  close(): void {}
}
