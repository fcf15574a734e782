// gRPC-Web round trips from Node with the GUI's client stack (lib.mjs):
//   node node.mjs HOST FORMAT SCENARIO [ARGS...]
// FORMAT is text (the grpc-web default) or binary; each scenario prints one
// JSON line. Node has no XMLHttpRequest: xhr2 stands in for the browser's
// (xhr.mjs). The headless Chromium test runs the same stack in a browser.
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { StreamingXMLHttpRequest } from './xhr.mjs';

globalThis.XMLHttpRequest = StreamingXMLHttpRequest;
const { api, clients, first, all, firstN, failure, requests } = await import('./lib.mjs');

const [host, format, scenario, ...args] = process.argv.slice(2);
const grid = clients(host, format);

const scenarios = {
  async unary() {
    const versions = await first(grid.versions.listVersions(new api.ListVersionsRequest()));
    return { core: versions.core, api: versions.api };
  },
  async error() {
    return failure(first(grid.sessions.getSession(new api.GetSessionRequest({ sessionId: args[0] }))));
  },
  async stream() {
    const events = await firstN(grid.events.getEvents(new api.EventSubscriptionRequest({ sessionId: args[0] })), Number(args[1]));
    return events.map((e) => e.toObject());
  },
  async download() {
    const request = new api.DownloadResultDataRequest({ sessionId: args[0], resultId: args[1] });
    const chunks = await all(grid.results.downloadResultData(request));
    const hash = createHash('sha256');
    for (const chunk of chunks) hash.update(chunk.dataChunk);
    return { chunks: chunks.length, bytes: chunks.reduce((n, c) => n + c.dataChunk.length, 0), sha256: hash.digest('hex') };
  },
  // Every action of the Admin GUI, in the order a user might take them, on
  // a running session: ARGS = session, a completed task, a pending task, a
  // completed result, another session (to cancel). Each action reports what
  // it read, or its error status: one failure does not hide the others.
  async actions() {
    const [sessionId, taskId, pendingTaskId, resultId, otherSessionId] = args;
    const report = {};
    const act = async (name, run) => {
      try {
        report[name] = await run();
      } catch (error) {
        report[name] = { code: error?.statusCode ?? -1, message: String(error?.statusMessage ?? error) };
      }
    };
    const S = grid.sessions, T = grid.tasks, R = grid.results;
    await act('ListVersions', async () => (await first(grid.versions.listVersions(new api.ListVersionsRequest()))).toObject());
    await act('GetCurrentUser', async () => (await first(grid.auth.getCurrentUser(new api.GetCurrentUserRequest()))).user.username);
    await act('CheckHealth', async () => (await first(grid.health.checkHealth(new api.CheckHealthRequest()))).services.map((s) => s.name));
    await act('ListSessions', async () => (await first(S.listSessions(requests.sessions()))).sessions.map((s) => s.sessionId));
    await act('GetSession', async () => (await first(S.getSession(new api.GetSessionRequest({ sessionId })))).session.status);
    await act('CountTasksByStatus', async () => (await first(T.countTasksByStatus(requests.countTasks(sessionId)))).status.map((s) => [s.status, s.count]));
    await act('ListTasks', async () => (await first(T.listTasks(requests.tasks(sessionId)))).total);
    await act('GetTask', async () => (await first(T.getTask(new api.GetTaskRequest({ taskId })))).task.status);
    await act('ListResults', async () => (await first(R.listResults(requests.results(sessionId)))).total);
    await act('GetResult', async () => (await first(R.getResult(new api.GetResultRequest({ resultId })))).result.status);
    await act('DownloadResultData', async () => {
      const chunks = await all(R.downloadResultData(new api.DownloadResultDataRequest({ sessionId, resultId })));
      return Buffer.concat(chunks.map((c) => Buffer.from(c.dataChunk))).toString();
    });
    await act('ListPartitions', async () => (await first(grid.partitions.listPartitions(requests.partitions()))).partitions.map((p) => p.id));
    await act('GetPartition', async () => (await first(grid.partitions.getPartition(new api.GetPartitionRequest({ id: 'default' })))).partition.id);
    await act('ListApplications', async () => (await first(grid.applications.listApplications(requests.applications()))).applications.map((a) => a.name));
    await act('GetEvents', async () => (await firstN(grid.events.getEvents(new api.EventSubscriptionRequest({ sessionId })), 1)).map((e) => e.update));
    await act('CancelTasks', async () => (await first(T.cancelTasks(new api.CancelTasksRequest({ taskIds: [pendingTaskId] })))).tasks.map((t) => t.status));
    await act('PauseSession', async () => (await first(S.pauseSession(new api.PauseSessionRequest({ sessionId })))).session.status);
    await act('ResumeSession', async () => (await first(S.resumeSession(new api.ResumeSessionRequest({ sessionId })))).session.status);
    await act('CancelSession', async () => (await first(S.cancelSession(new api.CancelSessionRequest({ sessionId: otherSessionId })))).session.status);
    await act('CloseSession', async () => (await first(S.closeSession(new api.CloseSessionRequest({ sessionId })))).session.status);
    await act('PurgeSession', async () => (await first(S.purgeSession(new api.PurgeSessionRequest({ sessionId })))).session.status);
    await act('DeleteSession', async () => (await first(S.deleteSession(new api.DeleteSessionRequest({ sessionId })))).session.status);
    await act('GetDeletedSession', async () => failure(first(S.getSession(new api.GetSessionRequest({ sessionId })))));
    return report;
  },
  async cancel() {
    // Unsubscribing is how the GUI leaves a graph: grpc-web aborts the request.
    // Driven by stdin lines so that the grid is seen holding the stream, then
    // ending it because of the cancellation while this process (and its
    // connections) live on: "cancel" unsubscribes, end of input exits.
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    let received = 0;
    const subscription = grid.events
      .getEvents(new api.EventSubscriptionRequest({ sessionId: args[0] }))
      .subscribe({ next: () => { received += 1; }, error: (e) => console.log(JSON.stringify({ unexpected: e.statusMessage })) });
    console.log(JSON.stringify({ subscribed: true }));
    await lines.next();
    subscription.unsubscribe();
    console.log(JSON.stringify({ cancelled: true, received }));
    while (!(await lines.next()).done) { /* until stdin closes */ }
    return { done: true };
  },
};

try {
  console.log(JSON.stringify(await scenarios[scenario]()));
} catch (error) {
  console.log(JSON.stringify({ unexpected: String(error?.statusMessage ?? error), code: error?.statusCode }));
  process.exitCode = 1;
}
