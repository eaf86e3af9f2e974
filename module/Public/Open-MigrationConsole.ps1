function Open-MigrationConsole {
    <#
    .SYNOPSIS
    Gives a one-time login link to the migration web console.
    .DESCRIPTION
    Extension (Exchange's migration pages live in the Exchange admin center). The worker serves
    the console once it is turned on with Set-MigrationConfig -ConsoleListen (or the worker's
    --console option). Open-MigrationConsole returns the console's Url with a login token that
    works once, for 15 minutes; the state directory keeps only a hash of it. Without a worker that
    serves the console, the error says how to turn it on.
    .PARAMETER Launch
    Also opens the Url in this machine's browser (xdg-open, sensible-browser or open), where one
    exists; otherwise a warning says to open it by hand.
    .EXAMPLE
    Set-MigrationConfig -ConsoleListen 127.0.0.1:8440; Open-MigrationConsole -Launch

    Turns the console on and opens it, logged in, in the browser.
    .EXAMPLE
    (Open-MigrationConsole).Url

    Prints a login link to paste into a browser on this machine (or through an SSH tunnel).
    .OUTPUTS
    ImapMigration.MigrationConsole
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low', PositionalBinding = $false)]
    [OutputType('ImapMigration.MigrationConsole')]
    param(
        [switch]$Launch
    )

    [ImapMigration.Invocation]::Initialize($PSCmdlet, $ExecutionContext.SessionState, @())
    if (-not $PSCmdlet.ShouldProcess('migration console', 'Create a one-time login link')) { return }
    $result = Invoke-MigNative -Operation 'console.open' -Cmdlet $PSCmdlet -NonTerminating
    if ($null -eq $result) { return }
    $console = ConvertTo-MigPlainObject -InputObject $result -TypeName 'ImapMigration.MigrationConsole'
    if ($Launch) {
        $opener = 'xdg-open', 'sensible-browser', 'open' |
            ForEach-Object { Get-Command $_ -CommandType Application -ErrorAction Ignore } |
            Select-Object -First 1
        if ($IsWindows) {
            Start-Process -FilePath $console.Url
        }
        elseif ($opener) {
            Start-Process -FilePath $opener.Source -ArgumentList $console.Url
        }
        else {
            Write-Warning 'No browser was found on this machine (xdg-open, sensible-browser, open); open the Url in a browser yourself.'
        }
    }
    $console
}
