#Requires -Version 7.4
# The web console through the real module, library and worker against a throwaway Dovecot:
# Set-MigrationConfig -ConsoleListen turns it on in the running worker, Open-MigrationConsole's
# link logs in, and a batch stopped and resumed from the page shows each state in
# Get-MigrationBatch at once. (The pages themselves: native/core/tests/console_*.rs.)

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestStack.ps1')
    $script:SkipReason = Get-MigTestStackSkipReason
    $script:Skip = [bool]$SkipReason
}

Describe 'Console prerequisites' {
    It 'has the native library, the worker and the testkit' {
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "integration prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'The web console beside the cmdlets' -Skip:$Skip {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'TestStack.ps1')
        $script:Stack = Start-MigTestStack -Users ([ordered]@{ ivy = 'ivy-console-pw' }) -Name console
        New-MigrationEndpoint -IMAP -Name ConsoleSrc -RemoteServer 127.0.0.1 -Port $Stack.Server.imapsPort -Security Ssl `
            -AcceptUntrustedCertificates -SkipVerification | Out-Null
        # The batch starts the worker; the console is off until configured.
        New-MigrationBatch -Name ConsoleWave -SourceEndpoint ConsoleSrc -CSVData (New-MigTestCsv @{ ivy = 'ivy-console-pw' }) | Out-Null
        Start-MigrationBatch -Identity ConsoleWave
        $null = Wait-MigBatch -Identity ConsoleWave -Until Synced

        function Get-CsrfToken([string]$Html) {
            if ($Html -notmatch 'name="csrf" value="([0-9a-f]{64})"') { throw 'no CSRF token in the page' }
            $Matches[1]
        }
    }
    AfterAll { Stop-MigTestStack $Stack }

    It 'Open-MigrationConsole says how to turn the console on while it is off' {
        { Open-MigrationConsole -ErrorAction Stop } | Should -Throw -ExpectedMessage '*Set-MigrationConfig -ConsoleListen*'
        $err = $null
        Open-MigrationConsole -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidState,*'
    }

    It 'refuses a console beyond loopback without TLS and stores nothing' {
        { Set-MigrationConfig -ConsoleListen 0.0.0.0:8440 -ErrorAction Stop } | Should -Throw -ExpectedMessage '*without TLS*'
        (Get-MigrationConfig).ConsoleListen | Should -BeNullOrEmpty
    }

    It 'turns the console on in the running worker; the link logs in; Stop and Resume from the page show in Get-MigrationBatch' {
        Set-MigrationConfig -ConsoleListen 127.0.0.1:0
        (Get-MigrationConfig).ConsoleListen | Should -Be '127.0.0.1:0'
        $deadline = (Get-Date).AddSeconds(30)
        $console = $null
        do {
            Start-Sleep -Milliseconds 300
            $console = Open-MigrationConsole -ErrorAction SilentlyContinue
        } until ($console -or (Get-Date) -gt $deadline)
        $console | Should -Not -BeNullOrEmpty -Because 'the worker serves the console within seconds'
        $console.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationConsole'
        $console.Url | Should -Match '^http://127\.0\.0\.1:\d+/login\?token='
        $base = $console.Url -replace '/login\?.*$', ''

        $login = Invoke-WebRequest -Uri $console.Url -MaximumRedirection 0 -SkipHttpErrorCheck -SessionVariable web
        $login.StatusCode | Should -Be 303
        $login.Headers['Set-Cookie'] -join ';' | Should -Match 'HttpOnly'
        $page = Invoke-WebRequest -Uri "$base/" -WebSession $web
        $page.Content | Should -Match 'data-batch="ConsoleWave"'
        $page.Content | Should -Not -Match 'ivy-console-pw'
        $csrf = Get-CsrfToken $page.Content

        # The link works once.
        (Invoke-WebRequest -Uri $console.Url -MaximumRedirection 0 -SkipHttpErrorCheck).StatusCode | Should -Be 403

        $stop = Invoke-WebRequest -Uri "$base/batches/ConsoleWave/action/stop" -Method Post -Body @{ csrf = $csrf } `
            -WebSession $web -MaximumRedirection 0 -SkipHttpErrorCheck
        $stop.StatusCode | Should -Be 303
        (Get-MigrationBatch -Identity ConsoleWave).Status.ToString() | Should -BeIn @('Stopping', 'Stopped')
        (Wait-MigBatch -Identity ConsoleWave -Until Stopped).Status.ToString() | Should -Be 'Stopped'

        $resume = Invoke-WebRequest -Uri "$base/batches/ConsoleWave/action/start" -Method Post -Body @{ csrf = $csrf } `
            -WebSession $web -MaximumRedirection 0 -SkipHttpErrorCheck
        $resume.StatusCode | Should -Be 303
        (Get-MigrationBatch -Identity ConsoleWave).Status.ToString() | Should -BeIn @('Starting', 'Syncing', 'Synced')
        (Wait-MigBatch -Identity ConsoleWave -Until Synced).Status.ToString() | Should -Be 'Synced'

        # What the cmdlets do shows on the page.
        Stop-MigrationBatch -Identity ConsoleWave -Confirm:$false
        $null = Wait-MigBatch -Identity ConsoleWave -Until Stopped
        (Invoke-WebRequest -Uri "$base/batches/ConsoleWave" -WebSession $web).Content | Should -Match 'data-status="Stopped"'

        # Without the CSRF token nothing happens.
        $forged = Invoke-WebRequest -Uri "$base/batches/ConsoleWave/action/start" -Method Post -Body @{ csrf = 'x' } `
            -WebSession $web -MaximumRedirection 0 -SkipHttpErrorCheck
        $forged.StatusCode | Should -Be 403
        (Get-MigrationBatch -Identity ConsoleWave).Status.ToString() | Should -Be 'Stopped'

        Set-MigrationConfig -ConsoleListen $null
        (Get-MigrationConfig).ConsoleListen | Should -BeNullOrEmpty
    }
}
