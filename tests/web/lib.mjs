// The ArmoniK Admin GUI's own client stack, as the GUI builds it: Aneo's
// generated clients (@aneoconsultingfr/armonik.api.angular) on ngx-grpc's
// grpc-web client factory, which runs the `grpc-web` npm client. Shared by
// the Node round trips (node.mjs) and the browser page (page/page.mjs).
// The generated clients carry Angular's partial declarations: the JIT
// compiler, imported first, links them.
import '@angular/compiler';
import * as api from '@aneoconsultingfr/armonik.api.angular';
import { GrpcHandler } from '@ngx-grpc/core';
import { GrpcWebClientFactory } from '@ngx-grpc/grpc-web-client';
import { firstValueFrom, lastValueFrom, toArray, take } from 'rxjs';

export { api };

export function clients(host, format) {
  const settings = { host, format };
  const make = (Client) => new Client(settings, new GrpcWebClientFactory(settings), new GrpcHandler([]));
  return {
    sessions: make(api.SessionsClient),
    tasks: make(api.TasksClient),
    results: make(api.ResultsClient),
    partitions: make(api.PartitionsClient),
    applications: make(api.ApplicationsClient),
    events: make(api.EventsClient),
    versions: make(api.VersionsClient),
    auth: make(api.AuthenticationClient),
    health: make(api.HealthChecksServiceClient),
  };
}

export const first = (observable) => firstValueFrom(observable);
export const all = (observable) => lastValueFrom(observable.pipe(toArray()));
export const firstN = (observable, n) => lastValueFrom(observable.pipe(take(n), toArray()));

// A call's error status as the GUI sees it ({code, message}); null when it succeeds.
export async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { code: error.statusCode, message: error.statusMessage };
  }
}

const DESC = api.SortDirection.SORT_DIRECTION_DESC;
const stringEq = (field, value) => ({ field, filterString: { value, operator: api.FilterStringOperator.FILTER_STRING_OPERATOR_EQUAL } });

// The list requests the GUI's tables send: a page, a sort, OR-of-AND filters.
export const requests = {
  sessions: () =>
    new api.ListSessionsRequest({
      page: 0, pageSize: 10, filters: { or: [] },
      sort: { direction: DESC, field: { sessionRawField: { field: api.SessionRawEnumField.SESSION_RAW_ENUM_FIELD_CREATED_AT } } },
    }),
  tasks: (sessionId) =>
    new api.ListTasksRequest({
      page: 0, pageSize: 10, withErrors: true,
      filters: { or: [{ and: [stringEq({ taskSummaryField: { field: api.TaskSummaryEnumField.TASK_SUMMARY_ENUM_FIELD_SESSION_ID } }, sessionId)] }] },
      sort: { direction: DESC, field: { taskSummaryField: { field: api.TaskSummaryEnumField.TASK_SUMMARY_ENUM_FIELD_CREATED_AT } } },
    }),
  countTasks: (sessionId) =>
    new api.CountTasksByStatusRequest({
      filters: { or: [{ and: [stringEq({ taskSummaryField: { field: api.TaskSummaryEnumField.TASK_SUMMARY_ENUM_FIELD_SESSION_ID } }, sessionId)] }] },
    }),
  results: (sessionId) =>
    new api.ListResultsRequest({
      page: 0, pageSize: 10,
      filters: { or: [{ and: [stringEq({ resultRawField: { field: api.ResultRawEnumField.RESULT_RAW_ENUM_FIELD_SESSION_ID } }, sessionId)] }] },
      sort: { direction: DESC, field: { resultRawField: { field: api.ResultRawEnumField.RESULT_RAW_ENUM_FIELD_CREATED_AT } } },
    }),
  partitions: () =>
    new api.ListPartitionsRequest({
      page: 0, pageSize: 10, filters: { or: [] },
      sort: { direction: DESC, field: { partitionRawField: { field: api.PartitionRawEnumField.PARTITION_RAW_ENUM_FIELD_ID } } },
    }),
  applications: () =>
    new api.ListApplicationsRequest({
      page: 0, pageSize: 10, filters: { or: [] },
      sort: { direction: DESC, fields: [{ applicationField: { field: api.ApplicationRawEnumField.APPLICATION_RAW_ENUM_FIELD_NAME } }] },
    }),
};
