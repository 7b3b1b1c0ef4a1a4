import { Metadata } from '@grpc/grpc-js';
import { ErrorCode, FaasError } from './errors.js';

/** Identity a call acts for, as the gateway established it. */
export interface Caller {
  /** Stable id of the user or service account; owns the jobs it submits. */
  subject: string;
  /** May read and cancel every job. */
  admin: boolean;
  /** Display name, such as the token's `preferred_username`; defaults to the subject. */
  name?: string;
}

const subjectKey = 'x-faas-caller-subject';
const adminKey = 'x-faas-caller-admin';
const nameKey = 'x-faas-caller-name';

/**
 * Builds the metadata the gateway sends to the scheduler. The scheduler is
 * internal and trusts these headers; the gateway never forwards a client's
 * own metadata.
 */
export function callerMetadata(caller: Caller): Metadata {
  const metadata = new Metadata();
  metadata.set(subjectKey, caller.subject);
  metadata.set(adminKey, caller.admin ? 'true' : 'false');
  // Binary metadata, because a display name need not be ASCII.
  if (caller.name) metadata.set(`${nameKey}-bin`, Buffer.from(caller.name));
  return metadata;
}

export function callerFromMetadata(metadata: Metadata): Caller {
  const subject = metadata.get(subjectKey)[0];
  if (typeof subject !== 'string' || subject === '') {
    throw new FaasError(ErrorCode.Unauthenticated, `the call carries no ${subjectKey} header; call the gateway instead`);
  }
  const name = metadata.get(`${nameKey}-bin`)[0];
  return { subject, admin: metadata.get(adminKey)[0] === 'true', name: Buffer.isBuffer(name) ? name.toString() : subject };
}
