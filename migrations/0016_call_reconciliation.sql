-- Calls whose end report never came are closed by the reconciler (src/call/reconcile.rs),
-- which asks the provider's call-details API and, failing that, closes them as `unknown`.
--   reconcile_at: the earliest time (unix ms) any instance may look at the call again; set by
--     the conditional update that claims it, so that two instances never reconcile one call
--     (null: never looked at).
--   reconcile_errors: consecutive failed look-ups of the call at its provider.
-- calls_open holds only calls without an end (`ended_at is null`): the reconciler reads the
-- oldest of them, and the index stays as small as the calls in progress (plus those left open).
alter table calls add column reconcile_at bigint;
alter table calls add column reconcile_errors bigint not null default 0;
create index calls_open on calls (started_at) where ended_at is null;
