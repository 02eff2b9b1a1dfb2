using Orleans.Timers;

namespace Qubrid.Tests.Simulation;

/// <summary>
/// The reminder table of the simulated cluster: durable (it survives deactivations and silo deaths), keyed by grain
/// and name, scheduled on the fake clock. The simulation, not a timer, decides when (and whether) a reminder is
/// delivered: late, early, twice or not at all for a while. Unavailable while the simulated database is down.
/// </summary>
public sealed class SimReminders(SimWorld world) : IReminderRegistry
{
    private readonly object _gate = new();
    private readonly SortedDictionary<(string Grain, string Name), Entry> _entries = new();

    public sealed record Entry(GrainId GrainId, string Name, DateTimeOffset Due, TimeSpan Period, string ETag);

    private sealed class Reminder(string name, string etag) : IGrainReminder
    {
        public string ReminderName { get; } = name;
        public string ETag { get; } = etag;
    }

    public IReadOnlyList<Entry> Snapshot()
    {
        lock (_gate) return _entries.Values.ToList();
    }

    /// <summary>After a delivery the reminder's next tick is its first due instant after now (as the reminder service does).</summary>
    public void Advance(Entry delivered, DateTimeOffset now)
    {
        lock (_gate)
        {
            var key = (delivered.GrainId.ToString(), delivered.Name);
            if (!_entries.TryGetValue(key, out var current) || current.ETag != delivered.ETag) return; // re-registered meanwhile
            var next = current.Due;
            while (next <= now) next += current.Period;
            _entries[key] = current with { Due = next };
        }
    }

    public Task<IGrainReminder> RegisterOrUpdateReminder(GrainId callingGrainId, string reminderName, TimeSpan dueTime, TimeSpan period)
    {
        world.ThrowIfDown("reminder upsert");
        lock (_gate)
        {
            var etag = Guid.NewGuid().ToString("N");
            _entries[(callingGrainId.ToString(), reminderName)] = new Entry(callingGrainId, reminderName, world.Now + dueTime, period, etag);
            return Task.FromResult<IGrainReminder>(new Reminder(reminderName, etag));
        }
    }

    public Task UnregisterReminder(GrainId callingGrainId, IGrainReminder reminder)
    {
        world.ThrowIfDown("reminder delete");
        lock (_gate) _entries.Remove((callingGrainId.ToString(), reminder.ReminderName));
        return Task.CompletedTask;
    }

    public Task<IGrainReminder?> GetReminder(GrainId callingGrainId, string reminderName)
    {
        world.ThrowIfDown("reminder read");
        lock (_gate)
        {
            return Task.FromResult<IGrainReminder?>(_entries.TryGetValue((callingGrainId.ToString(), reminderName), out var e)
                ? new Reminder(e.Name, e.ETag) : null);
        }
    }

    public Task<List<IGrainReminder>> GetReminders(GrainId callingGrainId)
    {
        world.ThrowIfDown("reminder read");
        var id = callingGrainId.ToString();
        lock (_gate)
        {
            return Task.FromResult(_entries.Values.Where(e => e.GrainId.ToString() == id)
                .Select(e => (IGrainReminder)new Reminder(e.Name, e.ETag)).ToList());
        }
    }
}
