import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI } from '../api';

/** How a firing ended (see the README's "Schedules" section). */
export interface IScheduleOutcome {
  result: string;
  reason?: string | null;
  run_id?: string | null;
  version?: number | null;
  metric?: string | null;
  value?: number | null;
  incumbent?: number | null;
  incumbent_version?: number | null;
  alias?: string | null;
}

/** A schedule as `GET /mlops/api/schedules` lists it. */
export interface ISchedule {
  id: string;
  path: string | null;
  cron: string;
  timezone: string;
  paused: boolean;
  next: string[];
  catchup: string;
  last_outcome: IScheduleOutcome | null;
}

/** One line for an outcome: `promoted v3: accuracy 0.95 vs 0.92 of v2`. */
export function outcomeLine(outcome: IScheduleOutcome | null): string {
  if (!outcome) {
    return 'no outcome yet';
  }
  const r = outcome.result;
  if (
    (r === 'promoted' || r === 'not-promoted') &&
    outcome.incumbent !== null
  ) {
    return `${r} v${outcome.version}: ${outcome.metric} ${outcome.value} vs ${outcome.incumbent} of v${outcome.incumbent_version}`;
  }
  return outcome.reason ? `${r}: ${outcome.reason}` : r;
}

/** Cron presets of the create form ('custom': the expression typed). */
export const PRESETS: { [name: string]: string } = {
  hourly: '0 * * * *',
  daily: '0 3 * * *',
  weekly: '0 3 * * 1'
};

/**
 * The schedules of the notebook in focus: listed (polled while shown),
 * created, paused, resumed, removed, run now. No DOM.
 */
export class SchedulesModel {
  constructor(
    private _settings: ServerConnection.ISettings,
    private _path: () => string | null
  ) {}

  get changed(): ISignal<SchedulesModel, void> {
    return this._changed;
  }
  get schedules(): ISchedule[] {
    return this._schedules;
  }
  get error(): string | null {
    return this._error;
  }

  /** Poll the listing every `ms` while `on`. */
  poll(on: boolean, ms = 2000): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
    if (on) {
      void this.refresh();
      this._timer = setInterval(() => void this.refresh(), ms);
    }
  }

  async refresh(): Promise<void> {
    const path = this._path();
    if (!path) {
      this._set([], null);
      return;
    }
    try {
      const found = await this._call<{ schedules: ISchedule[] }>(
        `schedules?path=${encodeURIComponent(path)}`
      );
      this._set(found.schedules, null);
    } catch (error) {
      this._set(this._schedules, String((error as Error).message ?? error));
    }
  }

  /** The next 3 firings, computed by the server's cron library. */
  async preview(cron: string, timezone: string): Promise<string[]> {
    const answer = await this._call<{ next: string[] }>('schedules/preview', {
      method: 'POST',
      body: JSON.stringify({ cron, timezone })
    });
    return answer.next;
  }

  async create(cron: string, timezone: string): Promise<void> {
    const path = this._path();
    if (!path) {
      throw new Error('Open a notebook to schedule it.');
    }
    await this._call('schedules', {
      method: 'POST',
      body: JSON.stringify({ path, cron, timezone })
    });
    await this.refresh();
  }

  async act(id: string, action: 'pause' | 'resume' | 'run' | 'remove') {
    if (action === 'remove') {
      await this._call(`schedules/${id}`, { method: 'DELETE' });
    } else {
      await this._call(`schedules/${id}/${action}`, { method: 'POST' });
    }
    await this.refresh();
  }

  dispose(): void {
    this.poll(false);
  }

  private _call<T>(path: string, init: RequestInit = { method: 'GET' }) {
    return requestAPI<T>(path, init, this._settings);
  }

  private _set(schedules: ISchedule[], error: string | null): void {
    this._schedules = schedules;
    this._error = error;
    this._changed.emit();
  }

  private _schedules: ISchedule[] = [];
  private _error: string | null = null;
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _changed = new Signal<SchedulesModel, void>(this);
}
