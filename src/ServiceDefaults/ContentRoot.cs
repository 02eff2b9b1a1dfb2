namespace Qubrid.ServiceDefaults;

/// <summary>
/// Where a Qubrid process finds its appsettings.json and (the API) its wwwroot. .NET's default is the working
/// directory, so `dotnet src/Api/bin/.../Qubrid.Api.dll` started from the repository root (scripts/start.sh,
/// scripts/cluster.sh) or from anywhere else found neither: the billing page answered 404. The folder of the
/// binaries holds both (the build copies them there), so that is the content root unless one is given explicitly
/// (--contentRoot, ASPNETCORE_CONTENTROOT / DOTNET_CONTENTROOT; WebApplicationFactory passes --contentRoot).
/// </summary>
public static class ContentRoot
{
    /// <summary>The content root to use, or null to keep .NET's choice (an explicit one was given).</summary>
    public static string? For(string[] args, string? baseDirectory = null)
    {
        if (args.Any(a => a.TrimStart('-', '/').StartsWith("contentRoot", StringComparison.OrdinalIgnoreCase))) return null;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT"))
            || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT"))) return null;
        var dir = baseDirectory ?? AppContext.BaseDirectory;
        return File.Exists(Path.Combine(dir, "appsettings.json")) ? dir : null;
    }
}
