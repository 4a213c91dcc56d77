/* For tests under Wine only; never shipped. Rust's standard library (1.78 and later) takes
 * its random bytes from ProcessPrng in bcryptprimitives.dll, which Windows 10 and 11 have and
 * Wine 8 does not (rust-lang/rust#121337). This DLL gives Wine one, backed by RtlGenRandom
 * (advapi32's SystemFunction036), in chunks it accepts. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
