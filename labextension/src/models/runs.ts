import { Event } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import {
  EventSchemas,
  IRunEvent,
  IRunRecord,
  MlopsClient,
  RunStatus,
  StepStatus
} from '../api';

/** Run statuses after which nothing changes any more. */
export const FINISHED: readonly string[] = [
  'succeeded',
  'failed',
  'cancelled',
  'interrupted'
];

/** How many output lines are kept per step. */
const MAX_LINES = 20;

/**
 * The live state of one step of a run.
 */
export interface IStepState {
  status: StepStatus;
  /** When the step started running (ms since the epoch), if it has. */
  startedAt: number | null;
  duration_s: number | null;
  error: string | null;
  reason: string | null;
  /** The latest output lines. */
  lines: string[];
  /** Every status this step went through, in order (no repeats). */
  history: StepStatus[];
}

/**
 * The live state of one run, from its record and its events.
 */
export interface IRunState {
  id: string;
  path: string;
  status: RunStatus;
  error: string | null;
  record: IRunRecord;
  steps: { [name: string]: IStepState };
  /** The sequence number of the last event applied. */
  seq: number;
  /** When the run started running (ms since the epoch), from its events. */
  startedAt: number | null;
}

/**
 * Runs: starting, cancelling, following them live from the server's events
 * (with the replay filling gaps), and the run history of the notebook.
 */
export class RunsModel {
  constructor(client: MlopsClient, events: Event.IManager | null) {
    this._client = client;
    this._events = events;
    if (events) {
      events.stream.connect(this._onEmission, this);
    }
  }

  /** Emitted when a run's state or the history changes. */
  get changed(): ISignal<RunsModel, void> {
    return this._changed;
  }

  /** The notebook followed (history and re-attach). */
  get path(): string | null {
    return this._path;
  }

  /** This notebook's runs, newest first. */
  get history(): IRunRecord[] {
    return this._history;
  }
  get historyError(): string | null {
    return this._historyError;
  }

  /** The error of the last start or cancel (e.g. the server's 400 text). */
  get error(): string | null {
    return this._error;
  }

  /** Where the next runs execute, as chosen in the panel; null: the server's default. */
  get executor(): 'local' | 'dask' | null {
    return this._executor;
  }

  /** Choose where the next runs execute (null: the server's default). */
  setExecutor(executor: 'local' | 'dask' | null): void {
    if (executor !== this._executor) {
      this._executor = executor;
      this._changed.emit();
    }
  }

  /** The run shown for the followed notebook (the latest one started). */
  get current(): IRunState | null {
    const id = this._path !== null ? this._latest.get(this._path) : undefined;
    return id ? (this._runs.get(id) ?? null) : null;
  }

  /** The live state of a run, if known. */
  run(id: string): IRunState | undefined {
    return this._runs.get(id);
  }

  /** Follow a notebook: load its history, re-attach to a run in progress. */
  setPath(path: string | null): void {
    if (path === this._path) {
      return;
    }
    this._path = path;
    this._history = [];
    this._error = null;
    this._changed.emit();
    if (path !== null) {
      void this.refreshHistory();
    }
  }

  /** Load the history of the followed notebook (and re-attach). */
  async refreshHistory(): Promise<void> {
    const path = this._path;
    if (path === null) {
      return;
    }
    try {
      const { runs } = await this._client.listRuns({ path, limit: 50 });
      if (path !== this._path) {
        return;
      }
      this._history = runs;
      this._historyError = null;
      const newest = runs[0];
      if (newest && !this._latest.has(path)) {
        this._latest.set(path, newest.id);
      }
      for (const record of runs) {
        if (!FINISHED.includes(record.status) || record.id === newest?.id) {
          await this._attach(record);
        }
      }
    } catch (error) {
      this._historyError = Private.message(error);
    }
    this._changed.emit();
  }

  /** Start a run of `path`. Throws (and records) the server's refusal. */
  async start(
    path: string,
    parameters: { [name: string]: unknown },
    useCache = true
  ): Promise<IRunState> {
    this._error = null;
    this._changed.emit();
    let record: IRunRecord;
    try {
      record = await this._client.startRun({
        path,
        parameters,
        use_cache: useCache,
        isolate: false,
        publish: null,
        executor: this._executor
      });
    } catch (error) {
      this._error = Private.message(error);
      this._changed.emit();
      throw error;
    }
    this._latest.set(path, record.id);
    const state = await this._attach(record, path);
    if (path === this._path) {
      this._history = [
        record,
        ...this._history.filter(r => r.id !== record.id)
      ];
    }
    this._changed.emit();
    return state;
  }

  /** Show an error of the run controls (e.g. invalid parameters). */
  reportError(message: string | null): void {
    this._error = message;
    this._changed.emit();
  }

  /** Cancel a run. */
  async cancel(id: string): Promise<void> {
    try {
      const record = await this._client.cancelRun(id);
      this._applyRecord(record);
    } catch (error) {
      this._error = Private.message(error);
    }
    this._changed.emit();
  }

  /** Show a run (e.g. picked in the history) as the current one. */
  async show(id: string): Promise<void> {
    const record = await this._client.getRun(id);
    const path = record.path ?? this._path;
    if (path) {
      this._latest.set(path, id);
    }
    await this._attach(record, path ?? undefined);
    this._changed.emit();
  }

  dispose(): void {
    this._events?.stream.disconnect(this._onEmission, this);
    for (const timer of this._polls.values()) {
      clearInterval(timer);
    }
    this._polls.clear();
  }

  /**
   * Track a run: the replay of its events (every state it went through, in
   * order), then its record for what no event said (e.g. an older run).
   */
  private async _attach(record: IRunRecord, path?: string): Promise<IRunState> {
    let state = this._runs.get(record.id);
    if (!state) {
      state = {
        id: record.id,
        path: record.path ?? path ?? '',
        status: record.status,
        error: errorText(record.error),
        record,
        steps: {},
        seq: 0,
        startedAt: null
      };
      this._runs.set(record.id, state);
      for (const name of Object.keys(record.steps ?? {})) {
        this._step(state, name);
      }
      await this._replay(state);
    }
    this._applyRecord(record);
    this._watch(state);
    return state;
  }

  /** Fetch the events after the last one applied (reload, gaps). */
  private async _replay(state: IRunState): Promise<void> {
    if (this._replaying.has(state.id)) {
      return;
    }
    this._replaying.add(state.id);
    try {
      // Pages of events until the replay is exhausted.
      for (let page = 0; page < 50; page++) {
        const { events } = await this._client.runEvents(state.id, state.seq);
        const before = state.seq;
        for (const event of events) {
          this._apply(event);
        }
        if (!events.length || state.seq === before) {
          break;
        }
      }
    } catch {
      // The record stays the source of truth; the poll below retries.
    } finally {
      this._replaying.delete(state.id);
    }
    const buffered = this._buffer(state.id).sort((a, b) => a.seq - b.seq);
    this._buffers.delete(state.id);
    for (const event of buffered) {
      this._apply(event);
    }
    this._changed.emit();
  }

  /**
   * While a run is not finished, check its record now and then: the events
   * are the live source, this only covers a lost connection.
   */
  private _watch(state: IRunState): void {
    if (FINISHED.includes(state.status) || this._polls.has(state.id)) {
      return;
    }
    const timer = setInterval(async () => {
      if (FINISHED.includes(state.status)) {
        this._unwatch(state.id);
        return;
      }
      if (Date.now() - (this._lastEvent.get(state.id) ?? 0) < 4000) {
        return;
      }
      try {
        await this._replay(state);
        if (!FINISHED.includes(state.status)) {
          this._applyRecord(await this._client.getRun(state.id));
          this._changed.emit();
        }
      } catch {
        // Try again at the next tick.
      }
    }, 2000);
    this._polls.set(state.id, timer);
  }

  private _unwatch(id: string): void {
    const timer = this._polls.get(id);
    if (timer !== undefined) {
      clearInterval(timer);
      this._polls.delete(id);
    }
  }

  private _onEmission(_: unknown, emission: Event.Emission): void {
    const schema = emission.schema_id as string;
    if (!EventSchemas.all.includes(schema)) {
      return;
    }
    const event = emission as unknown as IRunEvent;
    const state = this._runs.get(event.run_id);
    if (!state) {
      // A run started elsewhere (CLI, another tab) on the followed notebook.
      if (event.path && event.path === this._path) {
        void this._client.getRun(event.run_id).then(record => {
          this._latest.set(event.path, record.id);
          return this._attach(record, event.path).then(() => {
            void this.refreshHistory();
          });
        });
      }
      return;
    }
    this._lastEvent.set(state.id, Date.now());
    if (this._replaying.has(state.id) || event.seq > state.seq + 1) {
      // Missed some (or a replay is on its way): the replay fills the gap,
      // then the buffered events are applied in order.
      this._buffer(state.id).push(event);
      void this._replay(state);
      return;
    }
    if (this._apply(event)) {
      this._changed.emit();
    }
  }

  /** Apply one event in sequence order; false if already applied. */
  private _apply(event: IRunEvent): boolean {
    const state = this._runs.get(event.run_id);
    if (!state || event.seq <= state.seq) {
      return false;
    }
    state.seq = event.seq;
    const time = Date.parse(event.time);
    if (event.schema_id === EventSchemas.run && event.status) {
      state.status = event.status as RunStatus;
      state.error = errorText(event.error);
      if (event.status === 'running' && !Number.isNaN(time)) {
        state.startedAt = time;
      }
      if (FINISHED.includes(state.status)) {
        this._unwatch(state.id);
        void this._finished(state);
      }
    } else if (event.step) {
      const step = this._step(state, event.step);
      if (event.schema_id === EventSchemas.step && event.status) {
        this._setStepStatus(step, event.status as StepStatus);
        if (event.status === 'running') {
          step.startedAt = Number.isNaN(time) ? Date.now() : time;
          step.lines = [];
        }
        step.duration_s = event.duration_s ?? step.duration_s;
        step.error = errorText(event.error);
        step.reason = event.reason ?? null;
      } else if (event.schema_id === EventSchemas.output && event.text) {
        const lines = event.text.split('\n').filter(l => l.length);
        step.lines = [...step.lines, ...lines].slice(-MAX_LINES);
      }
    }
    return true;
  }

  /**
   * Take a run record: its metrics and outputs always; its statuses when no
   * event told them (or when it says the run is over).
   */
  private _applyRecord(record: IRunRecord): void {
    const state = this._runs.get(record.id);
    if (!state) {
      return;
    }
    state.record = record;
    const over = FINISHED.includes(record.status);
    if (state.seq === 0 || over) {
      state.status = record.status;
      state.error = errorText(record.error) ?? state.error;
    }
    for (const [name, step] of Object.entries(record.steps ?? {})) {
      const current = this._step(state, name);
      const final = over && current.status !== step.status;
      if (state.seq === 0 || final) {
        this._setStepStatus(current, step.status);
      }
      current.duration_s = step.duration_s ?? current.duration_s;
      current.error = errorText(step.error) ?? current.error;
      current.reason = step.reason ?? current.reason;
    }
    if (over) {
      this._unwatch(state.id);
    }
  }

  /** A run finished: its final record (metrics) and the history. */
  private async _finished(state: IRunState): Promise<void> {
    try {
      this._applyRecord(await this._client.getRun(state.id));
    } catch {
      // Keep what the events said.
    }
    if (state.path === this._path) {
      await this.refreshHistory();
    }
    this._changed.emit();
  }

  private _buffer(id: string): IRunEvent[] {
    let buffer = this._buffers.get(id);
    if (!buffer) {
      buffer = [];
      this._buffers.set(id, buffer);
    }
    return buffer;
  }

  private _step(state: IRunState, name: string): IStepState {
    let step = state.steps[name];
    if (!step) {
      step = state.steps[name] = {
        status: 'pending',
        startedAt: null,
        duration_s: null,
        error: null,
        reason: null,
        lines: [],
        history: ['pending']
      };
    }
    return step;
  }

  private _setStepStatus(step: IStepState, status: StepStatus): void {
    step.status = status;
    if (step.history[step.history.length - 1] !== status) {
      step.history.push(status);
    }
  }

  private _client: MlopsClient;
  private _events: Event.IManager | null;
  private _changed = new Signal<RunsModel, void>(this);
  private _path: string | null = null;
  private _history: IRunRecord[] = [];
  private _historyError: string | null = null;
  private _error: string | null = null;
  private _executor: 'local' | 'dask' | null = null;
  private _runs = new Map<string, IRunState>();
  private _latest = new Map<string, string>();
  private _polls = new Map<string, ReturnType<typeof setInterval>>();
  private _lastEvent = new Map<string, number>();
  private _replaying = new Set<string>();
  private _buffers = new Map<string, IRunEvent[]>();
}

/**
 * A one-line error: events carry text, records an object
 * (`{"cell", "ename", "evalue"}`).
 */
export function errorText(error: unknown): string | null {
  if (error === null || error === undefined || error === '') {
    return null;
  }
  if (typeof error === 'string') {
    return error;
  }
  if (typeof error === 'object') {
    const e = error as { [key: string]: unknown };
    if (e.ename || e.evalue) {
      const where = typeof e.cell === 'number' ? ` (cell ${e.cell + 1})` : '';
      return `${e.ename ?? 'Error'}: ${e.evalue ?? ''}${where}`;
    }
    if (typeof e.message === 'string') {
      return e.message;
    }
  }
  return JSON.stringify(error);
}

namespace Private {
  export function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }
}
