import { ISignal, Signal } from '@lumino/signaling';

import {
  ICheck,
  IHistoryEntry,
  IPublishOptions,
  IPublishResult,
  IRegisteredModel,
  MlopsAPIError,
  MlopsClient
} from '../api';

/**
 * The outcome of a publish: the new version, or why it was refused.
 */
export type PublishOutcome =
  | { ok: true; result: IPublishResult }
  | { ok: false; message: string; checks: ICheck[] };

/**
 * Registered models: list, the selected model's versions and alias history,
 * publishing and alias changes.
 */
export class RegistryModel {
  constructor(client: MlopsClient) {
    this._client = client;
  }

  get changed(): ISignal<RegistryModel, void> {
    return this._changed;
  }
  get models(): IRegisteredModel[] {
    return this._models;
  }
  get error(): string | null {
    return this._error;
  }
  get selected(): IRegisteredModel | null {
    return this._selected;
  }
  get history(): IHistoryEntry[] {
    return this._history;
  }
  /** The outcome of the last publish, per run id. */
  outcome(runId: string): PublishOutcome | undefined {
    return this._outcomes.get(runId);
  }
  /** Whether a publish of this run is in progress. */
  publishing(runId: string): boolean {
    return this._publishing.has(runId);
  }

  async refresh(): Promise<void> {
    try {
      this._models = await this._client.listModels();
      this._error = null;
      const name = this._selected?.name;
      if (name && this._models.some(m => m.name === name)) {
        await this.select(name);
        return;
      }
    } catch (error) {
      this._error = Private.message(error);
    }
    this._changed.emit();
  }

  async select(name: string | null): Promise<void> {
    if (name === null) {
      this._selected = null;
      this._history = [];
      this._changed.emit();
      return;
    }
    try {
      const [model, history] = await Promise.all([
        this._client.getModel(name),
        this._client.modelHistory(name)
      ]);
      this._selected = model;
      this._history = history;
      this._error = null;
    } catch (error) {
      this._error = Private.message(error);
    }
    this._changed.emit();
  }

  /** Publish a run's model; a refusal (409) is an outcome, not an error. */
  async publish(
    runId: string,
    options: Partial<IPublishOptions>
  ): Promise<PublishOutcome> {
    this._publishing.add(runId);
    this._changed.emit();
    let outcome: PublishOutcome;
    try {
      const result = await this._client.publish({ run_id: runId, ...options });
      outcome = { ok: true, result };
    } catch (error) {
      const body = error instanceof MlopsAPIError ? error.body : null;
      outcome = {
        ok: false,
        message: Private.message(error),
        checks: checkList(body?.checks)
      };
    }
    this._publishing.delete(runId);
    this._outcomes.set(runId, outcome);
    if (outcome.ok) {
      this._selected = this._selected ?? ({ name: outcome.result.name } as any);
      await this.refresh();
      await this.select(outcome.result.name);
    }
    this._changed.emit();
    return outcome;
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    await this._mutate(name, () => this._client.setAlias(name, alias, version));
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this._mutate(name, () => this._client.deleteAlias(name, alias));
  }

  private async _mutate(name: string, call: () => Promise<unknown>) {
    try {
      await call();
      this._error = null;
    } catch (error) {
      this._error = Private.message(error);
      this._changed.emit();
      return;
    }
    await this.refresh();
    await this.select(name);
  }

  private _client: MlopsClient;
  private _changed = new Signal<RegistryModel, void>(this);
  private _models: IRegisteredModel[] = [];
  private _error: string | null = null;
  private _selected: IRegisteredModel | null = null;
  private _history: IHistoryEntry[] = [];
  private _outcomes = new Map<string, PublishOutcome>();
  private _publishing = new Set<string>();
}

/**
 * The checks of a publish answer as a list: the server sends
 * `{"gates": [...], "deployability": {...}}` (a list is taken as is).
 */
export function checkList(checks: unknown): ICheck[] {
  if (Array.isArray(checks)) {
    return checks;
  }
  if (!checks || typeof checks !== 'object') {
    return [];
  }
  const { gates, deployability, ...rest } = checks as { [key: string]: any };
  const list: ICheck[] = Array.isArray(gates) ? [...gates] : [];
  if (deployability && typeof deployability === 'object') {
    list.push({ name: 'deployability', ...deployability });
  }
  for (const [name, value] of Object.entries(rest)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      list.push({ name, ...(value as object) });
    }
  }
  return list;
}

namespace Private {
  export function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }
}
