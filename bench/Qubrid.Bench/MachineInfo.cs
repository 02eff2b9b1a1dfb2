using System.Runtime.InteropServices;

namespace Qubrid.Bench;

/// <summary>What the numbers were measured on.</summary>
public sealed record MachineInfo(
    int Cores,
    string Cpu,
    string Memory,
    string Os,
    string DotNet,
    string Postgres,
    string PostgresSettings)
{
    public static async Task<MachineInfo> CollectAsync()
    {
        string cpu = ReadFirst("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string memory = ReadFirst("/proc/meminfo", "MemTotal") is { } m && long.TryParse(m.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], out var kb)
            ? $"{kb / 1024.0 / 1024.0:0.0} GiB"
            : "unknown";
        string pgVersion = Environment.GetEnvironmentVariable("QUBRID_BENCH_PG_VERSION") is { Length: > 0 } v ? v : await Databases.SettingAsync("server_version");
        var settings = new List<string>();
        foreach (var name in new[] { "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers", "max_wal_size" })
            settings.Add($"{name}={await Databases.SettingAsync(name)}");
        return new MachineInfo(Environment.ProcessorCount, cpu, memory, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription,
            pgVersion, string.Join(", ", settings));
    }

    private static string? ReadFirst(string file, string key)
    {
        try
        {
            return File.ReadLines(file).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
