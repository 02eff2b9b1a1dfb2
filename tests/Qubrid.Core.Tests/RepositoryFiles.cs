namespace Qubrid.Core.Tests;

/// <summary>The repository's files, found from the test assembly's folder (tests/…/bin/…): docs, sources, migrations.</summary>
internal static class RepositoryFiles
{
    public static readonly string Root = FindRoot();

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    /// <summary>Source files under <paramref name="folder"/> with one of <paramref name="extensions"/>, build output left out.</summary>
    public static IEnumerable<string> Sources(string folder, params string[] extensions) =>
        Directory.EnumerateFiles(Path.Combine(Root, folder), "*", SearchOption.AllDirectories)
            .Where(f => extensions.Contains(Path.GetExtension(f)))
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "node_modules"))
            .Order(StringComparer.Ordinal);

    public static string Relative(string path) => Path.GetRelativePath(Root, path).Replace(Path.DirectorySeparatorChar, '/');

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "docs", "rules.md")) && Directory.Exists(Path.Combine(dir.FullName, "src")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"No repository root (docs/rules.md and src/) above {AppContext.BaseDirectory}.");
    }
}
