namespace Qubrid;

/// <summary>
/// The session grain in <see cref="MeteringMode.Shards"/>: it owns the lifecycle (start, stop, get, repeated and conflicting
/// starts) but registers no reminder; its wallet's metering shard charges it. Its stored state is only a pointer to the wallet
/// (user id, instance type, workload), written before the wallet is asked to open the session: a start that dies after the
/// wallet opened it leaves the pointer, and the next call reads the wallet's record through it, behind everything the wallet
/// has queued. The wallet's record is the truth for everything else, so nothing is stored after the open and the grain
/// deactivates once started (it need not stay resident while the session runs).
/// </summary>
public sealed partial class SessionGrain
{
    private bool ShardMode => meteringOptions.Value.Mode == MeteringMode.Shards;

    private SessionView? _record; // the wallet's record as this activation last saw it
    private bool _resolved;

    private IMeteringShardGrain ShardOf(string userId) =>
        GrainFactory.GetGrain<IMeteringShardGrain>(MeteringShards.ShardOf(userId, meteringOptions.Value.Shards));

    /// <summary>
    /// The wallet's record of this session, through the stored pointer, asked behind everything the wallet has queued (an
    /// open still on its way is not mistaken for none); null when no wallet opened it. Fresh: whether it was asked now.
    /// </summary>
    private async Task<(SessionView? Record, bool Fresh)> ResolveAsync()
    {
        if (_resolved) return (_record, false);
        _record = S.UserId is { } userId ? await Wallet(userId).GetSessionAfterQueued(SessionId) : null;
        _resolved = true;
        return (_record, true);
    }

    private async Task<SessionOpResult> ShardStartAsync(StartSessionRequest request, string workload)
    {
        var (existing, fresh) = await ResolveAsync();
        if (existing is not null)
        {
            if (existing.UserId != request.UserId || existing.InstanceType != request.InstanceType || existing.Workload != workload)
                return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionConflict,
                    $"Session '{SessionId}' was started for user {existing.UserId} on {existing.InstanceType} ({existing.Workload}).");
            // A repeated start changes nothing; it only makes sure the shard's reminder exists (idempotent, cheap once known).
            var view = fresh ? existing : await Wallet(existing.UserId).GetSession(SessionId) ?? existing;
            if (view.State == SessionState.Running) await ShardOf(view.UserId).Ensure();
            _record = view;
            return new SessionOpResult(WalletOpStatus.Applied, view, Existing: true);
        }

        var rate = await GrainFactory.GetGrain<IRateCardGrain>(0).GetRate(request.InstanceType ?? "");
        if (rate is null)
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.UnknownInstanceType, $"Unknown instance type '{request.InstanceType}'.");

        // The pointer first, then the shard's reminder, then the open: once the wallet has opened the session, the grain can
        // find it again (whatever happened to this call) and its shard's reminder exists, so it is metered.
        if (S.UserId != request.UserId || S.InstanceType != rate.InstanceType || S.Workload != workload)
        {
            state.State = new SessionGrainState { UserId = request.UserId, InstanceType = rate.InstanceType, Workload = workload };
            await StoreAsync();
        }
        await ShardOf(request.UserId).Ensure();
        // Until the wallet answers, nobody knows whether it opened the session: a later call asks it through the pointer.
        _resolved = false;
        var metering = meteringOptions.Value;
        var opened = await Wallet(request.UserId).OpenSession(new OpenSessionRequest(SessionId, rate.InstanceType, workload,
            rate.UsdPerHour, clock.UtcNow, metering.MinimumRunway));
        if (!opened.Succeeded)
        {
            await ForgetPointerAsync();
            return opened;
        }
        (_record, _resolved) = (opened.Session, true);
        LogStarted(logger, SessionId, request.UserId, rate.InstanceType, rate.UsdPerHour);
        DeactivateOnIdle();
        return opened;
    }

    /// <summary>A refused start leaves nothing stored (the wallet opened nothing); if clearing fails, the pointer resolves to none anyway.</summary>
    private async Task ForgetPointerAsync()
    {
        try
        {
            await state.ClearStateAsync();
        }
        catch (Exception)
        {
            DeactivateOnIdle();
        }
        state.State = new SessionGrainState();
        (_record, _resolved) = (null, true);
    }

    private async Task<SessionOpResult> ShardChargeAsync(bool final)
    {
        var (record, _) = await ResolveAsync();
        if (record is null) return NotFound();
        var result = await Wallet(record.UserId).ChargeSession(new SessionChargeRequest(SessionId, clock.UtcNow, final));
        if (!result.Succeeded) return result;
        _record = result.Session;
        if (record.State == SessionState.Running && result.Session is { State: not SessionState.Running } ended)
            LogEnded(logger, SessionId, ended.EndReason ?? "", ended.Charged.ToUsd());
        return result;
    }

    private async Task<SessionView?> ShardGetAsync()
    {
        var (record, fresh) = await ResolveAsync();
        if (record is null || fresh) return record;
        _record = await Wallet(record.UserId).GetSession(SessionId) ?? record;
        return _record;
    }

    /// <summary>
    /// A per-session charge reminder fired in Shards mode: the session was started under <see cref="MeteringMode.SessionReminders"/>.
    /// Its shard takes it over (the pointer is stored if the state never was), then the reminder is removed.
    /// </summary>
    private async Task ShardTakeOverReminderAsync(string reminderName)
    {
        if (!IsChargeReminder(reminderName)) return;
        if (S.UserId is null && reminderName.Length > ChargeReminder.Length + 1)
        {
            var userId = reminderName[(ChargeReminder.Length + 1)..];
            if (await Wallet(userId).GetSessionAfterQueued(SessionId) is { } recorded)
            {
                state.State = new SessionGrainState { UserId = recorded.UserId, InstanceType = recorded.InstanceType, Workload = recorded.Workload };
                await StoreAsync();
                (_record, _resolved) = (recorded, true);
                LogAdopted(logger, SessionId, userId);
            }
        }
        var (record, _) = await ResolveAsync();
        if (record is { State: SessionState.Running }) await ShardOf(record.UserId).Ensure();
        await UnregisterChargeReminderAsync();
    }
}
