namespace Qubrid.Core;

/// <summary>Sessions on the book (docs/design.md, sessions): opening, charging, ending them, and the runway they leave.</summary>
public sealed partial class WalletBook
{
    /// <summary>Sessions the book knows: every running one, plus any looked up for the current batch.</summary>
    public IReadOnlyCollection<SessionView> Sessions => _sessions.Values;

    public SessionView? FindSession(string sessionId) => _sessions.GetValueOrDefault(sessionId);

    /// <summary>Makes a stored session known to the book without counting it as a change.</summary>
    public void AddKnownSession(SessionView session) => _sessions.TryAdd(session.SessionId, session);

    /// <summary>Forgets ended sessions, so only running ones stay in memory.</summary>
    public void ForgetEndedSessions()
    {
        foreach (var ended in _sessions.Values.Where(x => x.State != SessionState.Running).Select(x => x.SessionId).ToList())
            _sessions.Remove(ended);
    }

    /// <summary>USD per hour of every running session.</summary>
    public decimal BurnRatePerHour => _sessions.Values.Where(x => x.State == SessionState.Running).Sum(x => x.UsdPerHour);

    public IReadOnlyList<RunningSessionView> RunningSessions() =>
        _sessions.Values.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt)
            .Select(x => new RunningSessionView(x.SessionId, x.InstanceType, x.UsdPerHour, x.StartedAt, x.Charged, x.Workload)).ToList();

    /// <summary>What running sessions owe at <paramref name="now"/> beyond what they have been charged.</summary>
    public Micros UnbilledOwed(DateTimeOffset now)
    {
        var owed = Micros.Zero;
        foreach (var s in _sessions.Values)
        {
            if (s.State != SessionState.Running) continue;
            var due = Metering.Owed(s.UsdPerHour, s.StartedAt, now) - s.Charged;
            if (due.IsPositive) owed += due;
        }
        return owed;
    }

    // R-SESS-2: the runway funds; the start check, runwaySeconds and low_balance all use them.
    /// <summary>
    /// What the runway is computed from: what is available once running sessions have paid what they owe.
    /// The start check, the runway shown and the low-balance warning all use this one figure. Scoped lots count only for
    /// the sessions they match (<see cref="RunwayFundsFor"/>; here over no horizon, see <see cref="Runway"/>).
    /// </summary>
    public Micros RunwayFunds(DateTimeOffset now) => RunwayFundsFor(RunningInStartOrder().ToList(), TimeSpan.Zero, now);

    // R-SESS-3: the same start again changes nothing; another user, type or workload is session_conflict.
    /// <summary>
    /// Opens a session when the runway funds cover <c>MinimumRunway</c> at the burn rate of every running session
    /// plus this one. The same request again returns the session as first opened; another request under the same
    /// id is a conflict.
    /// </summary>
    public SessionOpResult OpenSession(OpenSessionRequest request, DateTimeOffset now) => DecideOpenSession(request, now).Result;

    /// <summary><see cref="OpenSession"/> with its effects: a start refused for want of runway funds looks at the auto top-up.</summary>
    public Decided<SessionOpResult> DecideOpenSession(OpenSessionRequest request, DateTimeOffset now)
    {
        if (_sessions.TryGetValue(request.SessionId, out var existing))
        {
            return new(existing.InstanceType == request.InstanceType && existing.Workload == request.Workload
                ? new SessionOpResult(WalletOpStatus.Applied, existing, Existing: true)
                : SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionConflict,
                    $"Session '{request.SessionId}' already exists with instance type {existing.InstanceType} ({existing.Workload})."),
                BatchEffects.None);
        }
        var burn = BurnRatePerHour + request.UsdPerHour;
        var required = Metering.Owed(burn, now, now + request.MinimumRunway);
        // A scoped lot counts for the sessions it matches, up to what they burn over the minimum runway (R-SCOPE-4).
        var starting = new SessionView(request.SessionId, WalletId, request.InstanceType, request.Workload, request.UsdPerHour, now,
            SessionState.Running, null, Micros.Zero, null);
        var funds = RunwayFundsFor([.. RunningInStartOrder(), starting], request.MinimumRunway, now);
        if (funds < required)
        {
            return new(SessionOpResult.Fail(WalletOpStatus.InsufficientCredits, ErrorCodes.InsufficientCredits,
                $"With this {request.InstanceType} the wallet's sessions burn {burn:0.######} USD/h: a {request.MinimumRunway.TotalMinutes:0.##}-minute runway needs {required.ToUsd():0.######} USD, and {funds.ToUsd():0.######} USD is available after what running sessions owe."),
                BatchEffects.AutoTopupCheck);
        }
        if (StartPassesLimit(burn, request.MinimumRunway, now) is { } overLimit)
            return new(SessionOpResult.Fail(WalletOpStatus.InsufficientCredits, ErrorCodes.SpendLimitExceeded, overLimit), BatchEffects.None);
        var session = new SessionView(request.SessionId, WalletId, request.InstanceType, request.Workload, request.UsdPerHour,
            request.StartedAt, SessionState.Running, null, Micros.Zero, null);
        Track(session);
        return new(new SessionOpResult(WalletOpStatus.Applied, session), BatchEffects.None);
    }

    // R-SESS-4: a charge debits owed − charged from the session's own record.
    /// <summary>
    /// Charges a running session up to <c>request.At</c>: debits <c>owed(at) − charged</c> from the session's own
    /// record (nothing when that is not positive), taking what is left when it cannot all be paid and then
    /// terminating the session. <c>Final</c> stops it. The instant charged up to never goes back, so late,
    /// repeated or out-of-order calls, and silos whose clocks differ, change nothing: a stop is recorded at the
    /// latest instant already charged for when its own clock is behind, and the total is exactly the formula over
    /// the recorded start and stop.
    /// </summary>
    public SessionOpResult ChargeSession(SessionChargeRequest request, DateTimeOffset now) => DecideSessionCharge(request, now).Result;

    /// <summary><see cref="ChargeSession"/> with its effects: what it debited is spending; ending the session at a limit reaches it.</summary>
    public Decided<SessionOpResult> DecideSessionCharge(SessionChargeRequest request, DateTimeOffset now)
    {
        if (!_sessions.TryGetValue(request.SessionId, out var session))
            return new(SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionNotFound, $"Session '{request.SessionId}' is not open on this wallet."), BatchEffects.None);
        if (session.State != SessionState.Running) return new(new SessionOpResult(WalletOpStatus.Applied, session), BatchEffects.None);
        var effects = BatchEffects.None;

        // R-SESS-5: never charges up to an earlier instant than one already charged for.
        var through = request.At;
        if (session.ChargedThrough is { } charged && charged > through) through = charged;
        if (through < session.StartedAt) through = session.StartedAt;
        var owed = Metering.Owed(session.UsdPerHour, session.StartedAt, through);
        var due = owed - session.Charged;
        var debited = Micros.Zero;
        if (due.IsPositive)
        {
            // A limit caps what the session may take; what it cannot pay within the limit ends it (reason spend_limit).
            var headroom = Headroom(now);
            var payable = headroom is { } h && h < due ? h : due;
            if (payable.IsPositive)
            {
                var debit = new DebitRequest($"session:{session.SessionId}:{owed.Value}", LedgerEntryKind.SessionCharge, payable,
                    session.SessionId, new UsageTags(session.SessionId, session.InstanceType, null, session.Workload), AllowPartial: true);
                var outcome = DebitWithin(debit, now, SpendableFor(debit.Usage, now));
                if (outcome.Entry is { } entry) debited = -entry.Amount;
                effects = outcome.Effects;
            }
            session = session with { Charged = session.Charged + debited, ChargedThrough = through };
            if (payable < due && debited == payable)
            {
                session = Terminate(session, through, EndReasons.SpendLimit, now);
                effects = effects.Then(BatchEffects.AtLimit);
            }
            // R-SESS-7: out of credits, the session is terminated at the instant charged through.
            // Out of credits: it could not all be paid, or nothing is left for the next interval.
            else if (debited < due || (!request.Final && !SpendableFor(UsageOf(session), now).IsPositive))
                session = Terminate(session, through, EndReasons.InsufficientCredits, now);
        }
        if (request.Final && session.State == SessionState.Running)
            session = session with { State = SessionState.Stopped, StoppedAt = through, EndReason = EndReasons.Stopped };
        if (session != _sessions[request.SessionId]) Track(session); // a tick that owes nothing writes nothing
        return new(new SessionOpResult(WalletOpStatus.Applied, session, debited), effects);
    }

    // R-SESS-9: one low_balance per crossing, re-armed above the threshold.
    /// <summary>
    /// Raises one low-balance event when the runway (live balance ÷ burn rate) falls below the
    /// threshold, and re-arms once it is back above it (or nothing burns).
    /// </summary>
    public void CheckLowBalance(TimeSpan threshold, DateTimeOffset now)
    {
        var (available, runway) = Runway(now);
        bool low = runway is { } seconds && seconds < (long)threshold.TotalSeconds;
        if (low && !LowBalanceNotified)
        {
            LowBalanceNotified = true;
            Changes.LowBalanceFlagChanged = true;
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.LowBalance, WalletId, null, null, available, runway));
        }
        else if (!low && LowBalanceNotified)
        {
            LowBalanceNotified = false;
            Changes.LowBalanceFlagChanged = true;
        }
    }

    private SessionView Terminate(SessionView session, DateTimeOffset at, string reason, DateTimeOffset now)
    {
        Changes.Events.Add(new BillingEvent(0, now, EventKinds.SessionTerminated, WalletId, session.SessionId, reason, Balance, null));
        return session with { State = SessionState.Terminated, StoppedAt = at, EndReason = reason };
    }

    private void Track(SessionView session)
    {
        _sessions[session.SessionId] = session;
        Changes.Sessions[session.SessionId] = session;
    }
}
