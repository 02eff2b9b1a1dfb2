using System.Globalization;

namespace Qubrid.FaultDriver;

/// <summary>
/// The worst pauses between a session's charges, each with the instants of the two charges around it and the steps of a
/// rolling upgrade (scripts/lib/upgrade.sh's timeline: "epoch what process release" lines) that happened during it or in
/// the interval before it, so that a long pause can be attributed to a step: a silo's start and ready (the reminder ring
/// grows), its SIGTERM and exit (its reminders and activations move), and which release that process ran.
/// </summary>
public static class PauseReport
{
    public sealed record Pause(string SessionId, double From, double To)
    {
        public double Length => To - From;
    }

    public sealed record RollEvent(double At, string What, string Process, string Release);

    public static List<Pause> Pauses(Dictionary<string, List<double>> charges) =>
        charges.SelectMany(kv => kv.Value.Zip(kv.Value.Skip(1), (a, b) => new Pause(kv.Key, a, b))).ToList();

    public static List<RollEvent> ReadEvents(string? path)
    {
        if (path is null || !File.Exists(path)) return [];
        return File.ReadLines(path)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length >= 4 && double.TryParse(p[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            .Select(p => new RollEvent(double.Parse(p[0], CultureInfo.InvariantCulture), p[1], p[2], p[3]))
            .OrderBy(e => e.At).ToList();
    }

    /// <summary>Prints the pauses longer than <paramref name="threshold"/> (at most <paramref name="max"/>, longest first) with the roll's steps around each.</summary>
    public static void Print(List<Pause> pauses, List<RollEvent> events, double interval, double threshold, int max)
    {
        var worst = pauses.Where(p => p.Length > threshold).OrderByDescending(p => p.Length).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pauses: {worst.Count} longer than {threshold:0.#} s between a session's charges (in {pauses.Select(p => p.SessionId).Distinct().Count()} sessions)"));
        foreach (var p in worst.Take(max))
        {
            // What happened from one interval before the pause began (the tick that should have come was armed then) to its end.
            var around = events.Where(e => e.At >= p.From - interval && e.At <= p.To)
                .Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.What} {e.Process} ({e.Release[..Math.Min(7, e.Release.Length)]}) {Clock(e.At)}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {p.Length,5:0.0} s  {p.SessionId}  charged {Clock(p.From)} and {Clock(p.To)}; roll: {string.Join(", ", around).DefaultIfEmptyText("no step")}"));
        }
    }

    /// <summary>
    /// The drains of silos that run <paramref name="previousRelease"/> (SIGTERM to exit, from the timeline). A tick dropped while
    /// such a silo hands its part of the reminder ring to another silo of the same release is caught up by neither: both run the
    /// previous release's code. A pause that overlaps one is checked against its own, separately reported bound.
    /// </summary>
    public static List<(double From, double To, string Process)> PreviousReleaseDrains(List<RollEvent> events, string previousRelease)
    {
        var drains = new List<(double, double, string)>();
        foreach (var term in events.Where(e => e.What == "sigterm" && e.Process.StartsWith("silo", StringComparison.Ordinal) && Same(e.Release, previousRelease)))
        {
            var exit = events.FirstOrDefault(e => e.What == "exit" && e.Process == term.Process && e.At >= term.At);
            drains.Add((term.At, exit?.At ?? double.MaxValue, term.Process));
        }
        return drains;
    }

    private static bool Same(string release, string sha) =>
        release.Length >= 7 && sha.Length >= 7 && (sha.StartsWith(release, StringComparison.OrdinalIgnoreCase) || release.StartsWith(sha, StringComparison.OrdinalIgnoreCase));

    public static string Clock(double epoch) =>
        DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(epoch * 1000)).ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    private static string DefaultIfEmptyText(this string s, string fallback) => s.Length == 0 ? fallback : s;
}
