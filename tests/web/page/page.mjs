// The test page of the headless Chromium test: served by `pyarmonik local
// --gui`, it calls the grid from its own origin as the Admin GUI does (host
// '', text mode) and shows what it read; window.results holds it for the test.
import { api, clients, first, firstN, requests } from '../lib.mjs';

const grid = clients('', 'text');
const query = new URLSearchParams(location.search);
const results = {};

function row(table, cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    td.textContent = String(cell);
    tr.appendChild(td);
  }
  document.getElementById(table).appendChild(tr);
}

try {
  const environment = await (await fetch('/static/environment.json')).json();
  const chip = document.getElementById('environment');
  chip.textContent = `${environment.name} ${environment.version}`;
  chip.style.background = environment.color;

  const versions = await first(grid.versions.listVersions(new api.ListVersionsRequest()));
  results.versions = versions.toObject();
  document.getElementById('versions').textContent = `core ${versions.core}, ArmoniK API ${versions.api}`;

  const sessions = await first(grid.sessions.listSessions(requests.sessions()));
  results.sessions = sessions.sessions.map((s) => s.sessionId);
  for (const s of sessions.sessions) row('sessions', [s.sessionId, api.SessionStatus[s.status], s.partitionIds.join(', ')]);

  const stream = grid.events.getEvents(new api.EventSubscriptionRequest({ sessionId: query.get('session') }));
  const events = await firstN(stream, Number(query.get('events') ?? 1)); // then unsubscribed: the stream is cancelled
  results.events = events.map((e) => e.toObject());
  for (const e of events) {
    const result = e.newResult;
    row('events', result ? ['NEW_RESULT', result.resultId, api.ResultStatus[result.status]] : [e.update, '', '']);
  }
} catch (error) {
  results.error = { code: error?.statusCode, message: String(error?.statusMessage ?? error) };
  document.getElementById('error').textContent = `error ${results.error.code}: ${results.error.message}`;
}
window.results = results;
document.body.dataset.done = 'true';
