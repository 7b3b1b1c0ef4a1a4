/** Public surface of the FaaS client: the client, its errors and the API types it returns. */
export {
  FaasClient,
  defaultAddress,
  maxPageSize,
  type FaasClientOptions,
  type ListAllOptions,
  type ListOptions,
  type LogsOptions,
  type RequestOptions,
  type SubmitSpec,
  type TokenSource,
} from './client.js';
export { FaasClientError, statusCodeName, type StatusCodeName } from './errors.js';
export type { BackoffOptions } from './retry.js';
export { FailureReason, Job, JobError, JobPhase, JobResult, JobSpec, JobState, LogStream } from '../gen/faas/v1/job.js';
export {
  CancelResponse,
  ListResponse,
  LogsResponse,
  ResultResponse,
  StatusResponse,
  SubmitResponse,
  WatchResponse,
} from '../gen/faas/v1/job_service.js';
