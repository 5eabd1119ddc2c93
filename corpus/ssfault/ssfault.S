/* ssfault.S -- the triggers of corpus/errcodes */
#include "../errcodes/errcodes.S"
