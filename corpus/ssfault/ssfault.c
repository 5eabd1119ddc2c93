/*
 * ssfault -- the not-present inner stack segment of a stack switch: #SS(SS+EXT),
 * not #TS (SDM vol 3A 6.13 and "Interrupt 11": a not-present segment detected
 * while loading SS causes #SS; vol 2A INT n).  corpus/errcodes with SSFAULT.
 */
#define SSFAULT
#include "../errcodes/errcodes.c"
