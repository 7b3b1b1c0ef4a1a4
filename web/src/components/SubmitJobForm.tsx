import { Button, Card, Group, Stack, Text, TextInput, Textarea, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import type { Job } from '../../../gen/web/faas/v1/job';
import { toApiError, type ApiError } from '../api.js';
import { useApi } from '../app-context.js';
import { fieldErrorText, formFieldOf, type FieldErrors, type JobFormField, type JobFormValues } from '../form-fields.js';
import { buildJobSpec, emptyJobForm } from '../job-form.js';
import { ErrorAlert } from './ErrorAlert.js';

function newIdempotencyKey(): string {
  return `web-${crypto.randomUUID()}`;
}

/** Renders the submit form. Parse errors and the gateway's INVALID_ARGUMENT messages show under the field they name. */
export function SubmitJobForm({ onSubmitted }: { onSubmitted: (job: Job) => void }) {
  const api = useApi();
  const [values, setValues] = useState<JobFormValues>(emptyJobForm);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<ApiError>();
  const [submitting, setSubmitting] = useState(false);
  // One key per distinct form content, so a repeated click after a lost response returns the same job.
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);

  const update = (field: JobFormField, value: string) => {
    setValues((previous) => ({ ...previous, [field]: value }));
    setFieldErrors((previous) => ({ ...previous, [field]: undefined }));
    setIdempotencyKey(newIdempotencyKey());
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(undefined);
    const built = buildJobSpec(values, idempotencyKey);
    if ('errors' in built) {
      setFieldErrors(built.errors);
      return;
    }
    setFieldErrors({});
    setSubmitting(true);
    try {
      const job = await api.submit(built.spec);
      setIdempotencyKey(newIdempotencyKey());
      onSubmitted(job);
    } catch (error) {
      const apiError = toApiError(error);
      const field = apiError.code === 'INVALID_ARGUMENT' ? formFieldOf(apiError.message) : undefined;
      if (field !== undefined) setFieldErrors({ [field]: fieldErrorText(apiError.message) });
      else setFormError(apiError);
    } finally {
      setSubmitting(false);
    }
  };

  const clear = () => {
    setValues(emptyJobForm);
    setFieldErrors({});
    setFormError(undefined);
  };

  const bind = (field: JobFormField) => ({
    value: values[field],
    error: fieldErrors[field],
    onChange: (event: { currentTarget: { value: string } }) => update(field, event.currentTarget.value),
  });

  return (
    <Card withBorder padding="lg" component="section" aria-labelledby="submit-title">
      <form onSubmit={(event) => void submit(event)} noValidate data-testid="submit-form">
        <Stack gap="sm">
          <div>
            <Title order={3} id="submit-title">
              Submit a job
            </Title>
            <Text size="sm" c="dimmed">
              A worker clones the repository and runs it in a sandbox.
            </Text>
          </div>
          <TextInput
            label="Repository URL"
            placeholder="https://git.example.com/team/repo.git"
            withAsterisk
            autoComplete="off"
            spellCheck={false}
            {...bind('repositoryUrl')}
          />
          <TextInput label="Ref" description="Branch, tag or commit; empty for the default branch" placeholder="main" spellCheck={false} {...bind('ref')} />
          <TextInput
            label="Command"
            description="Empty runs main.py, main.sh, main.c, main.cpp or main.js"
            placeholder="python3 report.py --since 7d"
            spellCheck={false}
            className="monospace-input"
            {...bind('command')}
          />
          <Textarea label="Arguments" description="One per line, added after the command" autosize minRows={2} maxRows={6} spellCheck={false} className="monospace-input" {...bind('args')} />
          <Textarea label="Environment" description="KEY=VALUE, one per line" placeholder="MODE=fast" autosize minRows={2} maxRows={8} spellCheck={false} className="monospace-input" {...bind('env')} />
          <Textarea label="Standard input" description="Optional text the job reads on stdin" autosize minRows={1} maxRows={6} spellCheck={false} {...bind('input')} />
          <Group grow align="flex-start">
            <TextInput label="Timeout" description="Seconds" placeholder="default" inputMode="numeric" {...bind('timeoutSeconds')} />
            <TextInput label="Memory" description="MiB" placeholder="default" inputMode="numeric" {...bind('memoryMiB')} />
          </Group>
          {formError !== undefined && <ErrorAlert error={formError} title={`Submit failed: ${formError.code}`} />}
          <Group justify="flex-end">
            <Button variant="subtle" color="gray" onClick={clear} disabled={submitting}>
              Clear
            </Button>
            <Button type="submit" loading={submitting}>
              Submit job
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
