#!/usr/bin/env bash
# Packaging smoke test (run by the test PackagingTests, Category=Packaging; about 2-3 minutes on a 2-core machine).
#  1. dotnet pack Acwa.Onnx (library: README, MIT licence expression, XML docs, .snupkg symbols) and Acwa.Cli (the
#     `acwa` .NET tool) into a temporary local feed, with a unique prerelease version so that the global NuGet cache
#     never serves a stale copy; build output goes to a temporary artifacts folder, not the working tree.
#  2. A temporary console project references Acwa.Onnx from that feed (plus Microsoft.ML.OnnxRuntime's natives from
#     the normal sources), builds a confusion matrix, prints macro F1, writes a tiny .npy label/prediction pair.
#  3. `dotnet tool install --tool-path` installs Acwa.Cli from the feed; `acwa --help` and `acwa metrics` on the pair.
# The tool is packed with CPU natives for this machine's RID only (-p:AcwaToolRuntimes) to keep it small and fast.
# Exit status 0 and a final line "pack-smoke: OK" on success.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/acwa-pack-smoke.XXXXXX")
BASE=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$ROOT/Directory.Build.props" | head -1)
VERSION="${BASE}-smoke.$(date +%s).$$"
NUGET_CACHE=${NUGET_PACKAGES:-$HOME/.nuget/packages}
cleanup() {
  rm -rf "$TMP" "$NUGET_CACHE/acwa.onnx/$VERSION" "$NUGET_CACHE/acwa.cli/$VERSION"
}
trap cleanup EXIT
FEED="$TMP/feed"
RID=$(dotnet --info | sed -n 's/^ *RID: *//p' | head -1)
RID=${RID:-linux-x64}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

step() { echo "pack-smoke: $*"; }

step "packing $VERSION into $FEED (rid $RID)"
dotnet pack "$ROOT/src/Acwa.Onnx/Acwa.Onnx.csproj" -c Release -o "$FEED" --artifacts-path "$TMP/artifacts" -p:Version="$VERSION" -v:q -nologo
dotnet pack "$ROOT/src/Acwa.Cli/Acwa.Cli.csproj" -c Release -o "$FEED" --artifacts-path "$TMP/artifacts" -p:Version="$VERSION" \
  -p:AcwaUseGpuNatives=false "-p:AcwaToolRuntimes=$RID" -v:q -nologo

LIB="$FEED/Acwa.Onnx.$VERSION.nupkg"
for f in "$LIB" "$FEED/Acwa.Onnx.$VERSION.snupkg" "$FEED/Acwa.Cli.$VERSION.nupkg"; do
  [ -f "$f" ] || { echo "pack-smoke: missing $f"; ls -la "$FEED"; exit 1; }
done
LISTING=$(unzip -l "$LIB")
for entry in README.md lib/net10.0/Acwa.Onnx.dll lib/net10.0/Acwa.Onnx.xml; do
  grep -q " $entry\$" <<<"$LISTING" || { echo "pack-smoke: $entry missing from $LIB"; exit 1; }
done
NUSPEC=$(unzip -p "$LIB" Acwa.Onnx.nuspec)
grep -q '<license type="expression">MIT</license>' <<<"$NUSPEC" || { echo "pack-smoke: no MIT licence expression in the nuspec"; exit 1; }
SYMBOLS=$(unzip -l "$FEED/Acwa.Onnx.$VERSION.snupkg")
grep -q "Acwa.Onnx.pdb" <<<"$SYMBOLS" || { echo "pack-smoke: no pdb in the symbols package"; exit 1; }
TOOLSPEC=$(unzip -p "$FEED/Acwa.Cli.$VERSION.nupkg" Acwa.Cli.nuspec)
grep -q '<packageType name="DotnetTool"' <<<"$TOOLSPEC" || { echo "pack-smoke: Acwa.Cli is not a DotnetTool package"; exit 1; }

# NuGet sources: the local feed first, then whatever the machine normally uses (user-level config is still read).
cat > "$TMP/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="acwa-local" value="$FEED" />
  </packageSources>
</configuration>
XML

step "building a console project that references Acwa.Onnx $VERSION"
mkdir -p "$TMP/consumer"
cp "$TMP/nuget.config" "$TMP/consumer/"
cat > "$TMP/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <InvariantGlobalization>true</InvariantGlobalization>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Acwa.Onnx" Version="$VERSION" />
    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="1.31.0" />
  </ItemGroup>
</Project>
XML
cat > "$TMP/consumer/Program.cs" <<'CS'
using Acwa.Onnx.Integration;
using Acwa.Onnx.IO;
using Acwa.Onnx.Metrics;

int[] labels = [0, 0, 1, 1, 2, 2];
int[] predictions = [0, 1, 1, 1, 2, 0];
var matrix = new ConfusionMatrix(3);
matrix.Accumulate(labels, predictions);
var report = ClassificationReport.Create(matrix);
Console.WriteLine($"macro F1 {report.MacroF1:0.0000}");
using var weights = ClassWeightValues.Create([1.0, 2.0, 0.5]);   // an OrtValue: the ORT natives load
Console.WriteLine($"weights {string.Join(",", weights.GetTensorDataAsSpan<float>().ToArray())}");
NpyFile.Write<long>(Path.Combine(args[0], "y.npy"), labels.Select(v => (long)v).ToArray());
NpyFile.Write<long>(Path.Combine(args[0], "p.npy"), predictions.Select(v => (long)v).ToArray());
CS
OUT=$(cd "$TMP/consumer" && dotnet run -c Release -v:q -- "$TMP")
echo "$OUT"
grep -q "macro F1 0.6556" <<<"$OUT" || { echo "pack-smoke: consumer printed the wrong macro F1"; exit 1; }
grep -q "weights 1,2,0.5" <<<"$OUT" || { echo "pack-smoke: consumer printed the wrong weights"; exit 1; }

step "installing the acwa tool from the feed"
(cd "$TMP" && dotnet tool install --tool-path "$TMP/tool" --add-source "$FEED" Acwa.Cli --version "$VERSION")
"$TMP/tool/acwa" --help > "$TMP/help.txt"
head -20 "$TMP/help.txt"
grep -q "metrics" "$TMP/help.txt" || { echo "pack-smoke: acwa --help does not list metrics"; exit 1; }
METRICS=$("$TMP/tool/acwa" metrics --labels "$TMP/y.npy" --predictions "$TMP/p.npy")
echo "$METRICS"
grep -q "accuracy 0.6667" <<<"$METRICS" || { echo "pack-smoke: acwa metrics printed an unexpected report"; exit 1; }
echo "pack-smoke: OK"
