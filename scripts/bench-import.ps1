#Requires -Version 7.4
<#
.SYNOPSIS
    Measures what an admin waits for before the first result: Import-Module and the first call.
.DESCRIPTION
    Called by `scripts/bench import` once the release build is staged and the module's .NET types
    are compiled into module/bin. Runs, in alternating order, -Repeat rounds of:
      bare       pwsh -NoProfile -c 1 (the floor: starting PowerShell)
      import     pwsh -NoProfile -c 'Import-Module ImapMigration.psd1' (types from module/bin)
      compile    the same on a copy of the module without module/bin: the types are compiled,
                 as at the first import on a pwsh the build did not prefill (and as every import
                 was before the cache)
    and, inside each import round's process, the Import-Module time and the first and second
    call (Get-MigrationBatch on an existing state directory: the library is loaded by the first).
    Prints medians, import minus bare, and the staged artifact sizes; writes
    target/bench/import.json. Timings are reported, never asserted.
.PARAMETER Root
    The repository root.
.PARAMETER Repeat
    Rounds per mode (default 7); medians are reported.
#>
param(
    [Parameter(Mandatory)][string]$Root,
    [int]$Repeat = 7
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

$pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
$manifest = Join-Path $Root 'ImapMigration.psd1'
$work = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-bench-import-$PID"
$null = New-Item -ItemType Directory -Force -Path $work
$env:IMAPMIGRATION_HOME = Join-Path $work 'state'

# The copy without compiled types, for the "compile" rows; the native build is the staged one.
$copy = Join-Path $work 'module-copy'
$null = New-Item -ItemType Directory -Force -Path (Join-Path $copy 'module')
Copy-Item $manifest $copy
Get-ChildItem (Join-Path $Root 'module') -Exclude 'bin' | Copy-Item -Recurse -Destination (Join-Path $copy 'module')

# The in-process figures, printed by the measured process itself as one JSON line.
$probe = @'
param($Manifest)
$sw = [System.Diagnostics.Stopwatch]::StartNew()
Import-Module $Manifest -ErrorAction Stop
$import = $sw.Elapsed.TotalMilliseconds
$sw.Restart()
$null = Get-MigrationBatch
$first = $sw.Elapsed.TotalMilliseconds
$sw.Restart()
$null = Get-MigrationBatch
$second = $sw.Elapsed.TotalMilliseconds
$cpu = [System.Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds
'##' + (ConvertTo-Json -Compress @{ import = $import; first = $first; second = $second; cpu = $cpu; types = [ImapMigration.Native].Assembly.Location })
'@
$probeFile = Join-Path $work 'probe.ps1'
Set-Content -Path $probeFile -Value $probe -Encoding utf8NoBOM

function Measure-Run([string[]]$Arguments) {
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $out = & $pwsh @Arguments
    $wall = $sw.Elapsed.TotalMilliseconds
    if ($LASTEXITCODE -ne 0) { throw "pwsh $($Arguments -join ' ') exited with $LASTEXITCODE`: $out" }
    $line = @($out) | Where-Object { "$_".StartsWith('##') } | Select-Object -Last 1
    [pscustomobject]@{ Wall = $wall; Inside = if ($line) { "$line".Substring(2) | ConvertFrom-Json } else { $null } }
}

# The state directory the first call reads (created once, outside the measurement).
$null = Measure-Run @('-NoProfile', '-NonInteractive', '-File', $probeFile, $manifest)

$rows = @{ bare = @(); import = @(); compile = @() }
for ($i = 0; $i -lt $Repeat; $i++) {
    $rows.bare += Measure-Run @('-NoProfile', '-NonInteractive', '-c', "'##{`"cpu`":' + [System.Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds + '}'")
    $rows.import += Measure-Run @('-NoProfile', '-NonInteractive', '-File', $probeFile, $manifest)
    Remove-Item -Recurse -Force (Join-Path $copy 'module/bin') -ErrorAction SilentlyContinue
    $rows.compile += Measure-Run @('-NoProfile', '-NonInteractive', '-File', $probeFile, (Join-Path $copy 'ImapMigration.psd1'))
    $compiledTo = $rows.compile[-1].Inside.types
    if (-not $compiledTo -or -not $compiledTo.StartsWith((Join-Path $copy 'module/bin'))) {
        # A compiled copy in the user's cache folder served the copy: these rows did not compile.
        throw "the module copy loaded its types from '$compiledTo' instead of compiling them; remove that file and run again"
    }
    Write-Host ("  round {0}/{1}: bare {2:N0} ms, import {3:N0} ms, compile {4:N0} ms" -f ($i + 1), $Repeat, $rows.bare[-1].Wall, $rows.import[-1].Wall, $rows.compile[-1].Wall)
}
$imported = $rows.import[-1].Inside.types
if (-not $imported -or -not $imported.StartsWith((Join-Path $Root 'module/bin'))) {
    Write-Warning "the import rows loaded the types from '$imported', not from module/bin: run scripts/build first"
}

function Get-Median([double[]]$Values) {
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    if ($s.Count % 2) { return $s[[int][math]::Floor($s.Count / 2)] }
    ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2
}

$result = [ordered]@{
    repeat = $Repeat
    pwsh = "$($PSVersionTable.PSVersion)"
    dotnet = "$([Environment]::Version)"
    wall_ms = [ordered]@{
        bare = Get-Median $rows.bare.Wall
        import = Get-Median $rows.import.Wall
        compile = Get-Median $rows.compile.Wall
    }
    # CPU time (user + system, all threads) of the whole process, start to end: less moved by
    # other load on the machine than wall time.
    cpu_ms = [ordered]@{
        bare = Get-Median ($rows.bare | ForEach-Object { $_.Inside.cpu })
        import = Get-Median ($rows.import | ForEach-Object { $_.Inside.cpu })
        compile = Get-Median ($rows.compile | ForEach-Object { $_.Inside.cpu })
    }
    in_process_ms = [ordered]@{
        import = Get-Median ($rows.import | ForEach-Object { $_.Inside.import })
        first_call = Get-Median ($rows.import | ForEach-Object { $_.Inside.first })
        second_call = Get-Median ($rows.import | ForEach-Object { $_.Inside.second })
        import_compiling = Get-Median ($rows.compile | ForEach-Object { $_.Inside.import })
    }
    artifacts_bytes = [ordered]@{}
}
$result.import_over_bare_ms = $result.wall_ms.import - $result.wall_ms.bare
$result.compile_over_bare_ms = $result.wall_ms.compile - $result.wall_ms.bare
$native = Join-Path $Root 'module/runtimes'
foreach ($f in @(Get-ChildItem $native -Recurse -File -ErrorAction SilentlyContinue) + @(Get-ChildItem (Join-Path $Root 'module/bin') -File -ErrorAction SilentlyContinue)) {
    $result.artifacts_bytes[[System.IO.Path]::GetRelativePath($Root, $f.FullName)] = $f.Length
}

Write-Host ''
Write-Host ("ImapMigration import, median of {0} (pwsh {1}, .NET {2})" -f $Repeat, $result.pwsh, $result.dotnet)
Write-Host ("                                                 wall          cpu")
Write-Host ("  pwsh -c 1                                  {0,8:N0} ms  {1,8:N0} ms" -f $result.wall_ms.bare, $result.cpu_ms.bare)
Write-Host ("  pwsh -c Import-Module (types cached)       {0,8:N0} ms  {1,8:N0} ms   +{2:N0} ms wall over bare" -f $result.wall_ms.import, $result.cpu_ms.import, $result.import_over_bare_ms)
Write-Host ("  pwsh -c Import-Module (types compiled)     {0,8:N0} ms  {1,8:N0} ms   +{2:N0} ms wall over bare" -f $result.wall_ms.compile, $result.cpu_ms.compile, $result.compile_over_bare_ms)
Write-Host ("  in process: Import-Module                  {0,8:N0} ms   (compiling: {1:N0} ms)" -f $result.in_process_ms.import, $result.in_process_ms.import_compiling)
Write-Host ("  in process: first call (loads the library) {0,8:N0} ms" -f $result.in_process_ms.first_call)
Write-Host ("  in process: second call                    {0,8:N0} ms" -f $result.in_process_ms.second_call)
foreach ($k in $result.artifacts_bytes.Keys) { Write-Host ("  {0,8:N1} MB  {1}" -f ($result.artifacts_bytes[$k] / 1MB), $k) }

$outDir = Join-Path $Root 'target/bench'
$null = New-Item -ItemType Directory -Force -Path $outDir
ConvertTo-Json -InputObject $result -Depth 5 | Set-Content -Path (Join-Path $outDir 'import.json') -Encoding utf8NoBOM
Write-Host "  (written to $(Join-Path $outDir 'import.json'))"
Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
