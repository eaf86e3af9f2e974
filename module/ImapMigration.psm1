# ImapMigration: Exchange Online's IMAP migration cmdlets over a self-hosted engine.
# Loader only: the private helpers (native gateway, converters) first, then one public cmdlet per
# file. The native library is loaded lazily by the gateway on the first call.

foreach ($folder in 'Private', 'Public') {
    foreach ($file in Get-ChildItem -Path (Join-Path $PSScriptRoot $folder) -Filter '*.ps1' -File | Sort-Object Name) {
        . $file.FullName
    }
}

Export-ModuleMember -Function (Get-ChildItem -Path (Join-Path $PSScriptRoot 'Public') -Filter '*.ps1' -File).BaseName
