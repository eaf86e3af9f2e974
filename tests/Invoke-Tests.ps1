#Requires -Version 7.4
<#
.SYNOPSIS
Runs every Pester suite in tests/ (hygiene, unit, admin mocks, integration) and exits non-zero on any failure.
.DESCRIPTION
Uses Pester's configuration object. Prints Pester's summary and, last, a plain line
"<N> passed, <N> failed" that CI reads. The integration suite skips itself (with the reason)
unless IMAPMIGRATION_NATIVE_DIR holds the native library and IMAPMIGRATION_TESTKIT the testkit.
.PARAMETER Output
Pester output verbosity: None, Normal, Detailed or Diagnostic. Default Detailed.
.PARAMETER Path
Suites to run. Default: every *.Tests.ps1 beside this script.
.PARAMETER TestResultPath
When given, also writes NUnit XML results there.
#>
param(
    [ValidateSet('None', 'Normal', 'Detailed', 'Diagnostic')]
    [string]$Output = 'Detailed',
    [string[]]$Path = @($PSScriptRoot),
    [string]$TestResultPath
)

Import-Module Pester -MinimumVersion 5.5 -ErrorAction Stop

$config = New-PesterConfiguration
$config.Run.Path = $Path
$config.Run.PassThru = $true
$config.Run.Exit = $false
$config.Output.Verbosity = $Output
if ($TestResultPath) {
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputPath = $TestResultPath
    $config.TestResult.OutputFormat = 'NUnitXml'
}

$result = Invoke-Pester -Configuration $config

$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
Write-Host ("Tests Passed: {0}, Failed: {1}, Skipped: {2}" -f $result.PassedCount, $result.FailedCount, $result.SkippedCount)
Write-Host ("{0} passed, {1} failed" -f $result.PassedCount, $failed)
exit ([int]($failed -gt 0 -or $result.Result -ne 'Passed'))
