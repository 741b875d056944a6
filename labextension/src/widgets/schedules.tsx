import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import {
  ISchedule,
  outcomeLine,
  PRESETS,
  SchedulesModel
} from '../models/schedules';
import { IMlopsModel } from '../tokens';
import { ErrorLine, useSignals } from './common';

/**
 * The Schedules section: schedule the notebook in focus (cron presets or a
 * custom expression, with the next 3 firings the server will use), list its
 * schedules with their next firing and last outcome; pause, resume, remove,
 * run now.
 */
export class SchedulesWidget extends ReactWidget {
  constructor(
    model: IMlopsModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-schedules');
    this.title.label = _trans.__('Schedules');
    this._schedules = new SchedulesModel(
      model.client.serverSettings,
      () => model.notebookPath
    );
  }

  render(): JSX.Element {
    return <SchedulesView model={this._schedules} trans={this._trans} />;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._schedules.poll(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._schedules.poll(false);
  }

  dispose(): void {
    this._schedules.dispose();
    super.dispose();
  }

  private _schedules: SchedulesModel;
}

function SchedulesView(props: {
  model: SchedulesModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useSignals(model.changed);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const [preset, setPreset] = React.useState('daily');
  const [custom, setCustom] = React.useState('*/15 * * * *');
  const [timezone, setTimezone] = React.useState(zone);
  const [next, setNext] = React.useState<string[]>([]);
  const [problem, setProblem] = React.useState<string | null>(null);
  const cron = preset === 'custom' ? custom : PRESETS[preset];
  React.useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      model.preview(cron, timezone).then(
        found => live && (setNext(found), setProblem(null)),
        error => live && (setNext([]), setProblem(String(error.message)))
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [cron, timezone]);
  const run = (work: Promise<unknown>) =>
    work.then(
      () => setProblem(null),
      error => setProblem(String(error.message ?? error))
    );
  return (
    <div className="jp-mlops-schedules-body">
      <div className="jp-mlops-schedule-form">
        <select
          aria-label={trans.__('Repeat')}
          className="jp-mlops-schedule-preset"
          value={preset}
          onChange={e => setPreset(e.target.value)}
        >
          <option value="hourly">{trans.__('Hourly')}</option>
          <option value="daily">{trans.__('Daily at 03:00')}</option>
          <option value="weekly">{trans.__('Weekly, Monday 03:00')}</option>
          <option value="custom">{trans.__('Custom cron…')}</option>
        </select>
        {preset === 'custom' && (
          <input
            aria-label={trans.__('Cron expression')}
            className="jp-mlops-schedule-cron"
            value={custom}
            onChange={e => setCustom(e.target.value)}
          />
        )}
        <input
          aria-label={trans.__('Time zone')}
          className="jp-mlops-schedule-timezone"
          value={timezone}
          onChange={e => setTimezone(e.target.value)}
        />
        <ul
          className="jp-mlops-schedule-preview"
          aria-label={trans.__('Next firings')}
        >
          {next.map(t => (
            <li key={t}>{new Date(t).toLocaleString()}</li>
          ))}
        </ul>
        <button
          className="jp-mod-styled jp-mod-accept jp-mlops-schedule-create"
          onClick={() => run(model.create(cron, timezone))}
        >
          {trans.__('Schedule this notebook')}
        </button>
        <ErrorLine message={problem ?? model.error} />
      </div>
      <ul className="jp-mlops-schedule-list" aria-label={trans.__('Schedules')}>
        {model.schedules.map(s => (
          <ScheduleRow
            key={s.id}
            schedule={s}
            model={model}
            run={run}
            trans={trans}
          />
        ))}
      </ul>
    </div>
  );
}

function ScheduleRow(props: {
  schedule: ISchedule;
  model: SchedulesModel;
  run: (work: Promise<unknown>) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { schedule: s, model, run, trans } = props;
  return (
    <li className="jp-mlops-schedule" data-schedule={s.id}>
      <div>
        <code>{s.cron}</code> {s.timezone}{' '}
        {s.paused ? trans.__('(paused)') : ''}
      </div>
      <div className="jp-mlops-schedule-next">
        {s.next.length
          ? trans.__('next: %1', new Date(s.next[0]).toLocaleString())
          : trans.__('no next firing')}
      </div>
      <div className="jp-mlops-schedule-outcome">
        {outcomeLine(s.last_outcome)}
      </div>
      <div className="jp-mlops-schedule-actions">
        <button
          className="jp-mod-styled"
          onClick={() => run(model.act(s.id, s.paused ? 'resume' : 'pause'))}
        >
          {s.paused ? trans.__('Resume') : trans.__('Pause')}
        </button>
        <button
          className="jp-mod-styled"
          onClick={() => run(model.act(s.id, 'run'))}
        >
          {trans.__('Run now')}
        </button>
        <button
          className="jp-mod-styled jp-mod-warn"
          onClick={() => run(model.act(s.id, 'remove'))}
        >
          {trans.__('Remove')}
        </button>
      </div>
    </li>
  );
}
