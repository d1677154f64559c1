/*
 * bcryptprimitives.dll shim for Wine 8.0.
 *
 * Rust's std (1.78+) imports bcryptprimitives.dll!ProcessPrng for its random
 * source (HashMap seeds). Wine 8.0 has no bcryptprimitives.dll, so every Rust
 * Windows binary fails to load. This DLL provides ProcessPrng on top of
 * advapi32's SystemFunction036 (RtlGenRandom), which Wine implements.
 *
 * Built by `cargo xtask` with x86_64-w64-mingw32-gcc and installed into the
 * bench's private WINEPREFIX only (system32).
 */
#include <windows.h>

/* advapi32!SystemFunction036 is RtlGenRandom; declared here, as <ntsecapi.h>
 * only exposes it through a macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length: feed large requests in chunks. */
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
