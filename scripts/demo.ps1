<#
.SYNOPSIS
    The documented Exchange Online IMAP migration flow, run against a throwaway local Dovecot.
.DESCRIPTION
    Called by scripts/demo after it started Dovecot with sample mailboxes. Creates the IMAP
    migration endpoint, a batch from a CSV with -AutoStart, polls Get-MigrationBatch the way
    admins do, and shows the results. The target is the embedded default (a local Maildir store
    under the state directory), because the batch names no -TargetEndpoint.
#>
param(
    [Parameter(Mandatory)] [string] $ServerJson,
    [Parameter(Mandatory)] [string] $WorkDir,
    [Parameter(Mandatory)] [string] $Users
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '..' 'ImapMigration.psd1') -Force

$server = Get-Content -Raw $ServerJson | ConvertFrom-Json
$csvPath = Join-Path $WorkDir 'mailboxes.csv'
$rows = foreach ($u in $Users -split ",") {
    $name, $password = $u -split ':', 2
    "$name@contoso.test,$name,$password"
}
Set-Content -Path $csvPath -Value (@('EmailAddress,UserName,Password') + $rows) -Encoding utf8

Write-Host "`n> New-MigrationEndpoint -IMAP -Name IMAPonpremises -RemoteServer $($server.host) -Port $($server.imapsPort) -Security Ssl" -ForegroundColor Cyan
New-MigrationEndpoint -IMAP -Name IMAPonpremises -RemoteServer $server.host -Port $server.imapsPort -Security Ssl `
    -CertificateAuthorityFile $server.caFile | Format-List EndpointType, RemoteServer, Port, Security, Max*

Write-Host "> New-MigrationBatch -Name IMAPImport -SourceEndpoint IMAPonpremises -CSVData ([System.IO.File]::ReadAllBytes(`"$csvPath`")) -AutoStart" -ForegroundColor Cyan
New-MigrationBatch -Name IMAPImport -SourceEndpoint IMAPonpremises -CSVData ([System.IO.File]::ReadAllBytes($csvPath)) -AutoStart |
    Format-Table

Write-Host "> polling Get-MigrationBatch -Identity IMAPImport until it settles" -ForegroundColor Cyan
$deadline = (Get-Date).AddMinutes(10)
do {
    Start-Sleep -Seconds 1
    $b = Get-MigrationBatch -Identity IMAPImport
    $synced = (Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics | Measure-Object SyncedItemCount -Sum).Sum
    Write-Host ("  {0:HH:mm:ss}  {1,-16} users synced {2}/{3}, messages on the target {4}" -f (Get-Date), $b.Status, $b.SyncedCount, $b.TotalCount, $synced)
} until ($b.Status -in 'Synced', 'SyncedWithErrors', 'Failed', 'Stopped' -or (Get-Date) -gt $deadline)

Write-Host "`n> Get-MigrationBatch -Identity IMAPImport | Format-List Status" -ForegroundColor Cyan
Get-MigrationBatch -Identity IMAPImport | Format-List Status
Write-Host "> Get-MigrationBatch" -ForegroundColor Cyan
Get-MigrationBatch | Format-Table
Write-Host "> Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics" -ForegroundColor Cyan
Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics | Format-Table

if ($b.Status -ne 'Synced') {
    Write-Error "the batch ended $($b.Status)"
}
