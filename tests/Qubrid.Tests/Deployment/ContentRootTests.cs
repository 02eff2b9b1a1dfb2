using System.Text.RegularExpressions;
using Qubrid.ServiceDefaults;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Deployment;

/// <summary>
/// The in-process tests get the billing page from the project folder (WebApplicationFactory passes --contentRoot);
/// a user runs the built Qubrid.Api.dll from anywhere. These check what that path depends on: the build output holds
/// the page and everything it loads, and the content root is the binaries' folder unless one is given explicitly.
/// (The end-to-end steps of scripts/test.sh then open the page on the real processes.)
/// </summary>
public class ContentRootTests
{
    [Fact]
    public void The_API_build_output_holds_the_billing_page_and_every_script_style_and_icon_it_loads()
    {
        // This test's own output folder is tests/Qubrid.Tests/bin/<Configuration>/<tfm>/: look at the API's beside it.
        var tfm = new DirectoryInfo(AppContext.BaseDirectory);
        var output = Path.Combine(BrowserHost.RepositoryRoot(), "src", "Api", "bin", tfm.Parent!.Name, tfm.Name);
        Assert.True(File.Exists(Path.Combine(output, "Qubrid.Api.dll")), $"no Qubrid.Api.dll in {output}");
        var webroot = Path.Combine(output, "wwwroot");

        var pending = new Queue<string>(["index.html"]);
        var seen = new HashSet<string>();
        while (pending.TryDequeue(out var relative))
        {
            if (!seen.Add(relative)) continue;
            var file = Path.Combine(webroot, relative);
            Assert.True(File.Exists(file), $"{relative} is not in the API's build output ({webroot})");
            var text = File.ReadAllText(file);
            var folder = Path.GetDirectoryName(relative) ?? "";
            // index.html: src="..." / href="..." (not #fragments, not absolute URLs); modules: import ... from './x.js'.
            var refs = Regex.Matches(text, @"(?:src|href)=""(?<p>[^""#:][^""]*)""|from\s+'(?<p>\.[^']+)'")
                .Select(m => m.Groups["p"].Value.Split('?')[0]);
            foreach (var r in refs) pending.Enqueue(Path.GetRelativePath(webroot, Path.GetFullPath(Path.Combine(webroot, folder, r))));
        }
        Assert.Contains("css/app.css", seen);
        Assert.Contains("js/app.js", seen);
        Assert.Contains("js/api.js", seen);
    }

    [Fact]
    public void The_content_root_is_the_folder_of_the_binaries_whatever_the_working_directory()
    {
        var dir = Directory.CreateTempSubdirectory("qubrid-contentroot-").FullName;
        try
        {
            Assert.Null(ContentRoot.For([], dir)); // not an app folder (no appsettings.json): .NET's default stays
            File.WriteAllText(Path.Combine(dir, "appsettings.json"), "{}");
            Assert.Equal(dir, ContentRoot.For([], dir));
            Assert.Equal(dir, ContentRoot.For(["--urls", "http://127.0.0.1:5080"], dir));
            // An explicit one wins (WebApplicationFactory passes --contentRoot=<project folder>).
            Assert.Null(ContentRoot.For(["--contentRoot=/somewhere"], dir));
            Assert.Null(ContentRoot.For(["--contentroot", "/somewhere"], dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
