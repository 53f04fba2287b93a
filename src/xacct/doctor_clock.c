/* SPDX-License-Identifier: MIT */
/*
 * doctor: the local clock against AWS's, from the Date header of the STS
 * answer. AWS refuses SigV4 signatures older or newer than 15 minutes, so
 * more than that fails; more than a minute is a warning (it will drift on,
 * and xacct signs with AWS's time only after a refusal).
 */
#include <stdlib.h>
#include <time.h>

#include "doctor.h"

#define CLOCK_FAIL_S 900
#define CLOCK_WARN_S 60

void doctor_check_clock(doctor_t *d)
{
    struct tm tm = {0};
    const char *end = d->server_date ? strptime(d->server_date, "%a, %d %b %Y %H:%M:%S GMT", &tm)
                                     : NULL;
    if (end == NULL) {
        /* Only when STS never answered: the identity line failed already. */
        doctor_add(d, "clock", DOCTOR_WARN, "make STS reachable (see identity), then check again",
                   "not checked: no answer from AWS to compare the clock with");
        return;
    }
    long skew = (long)difftime(time(NULL), timegm(&tm));
    long abs_skew = labs(skew);
    const char *dir = skew > 0 ? "ahead of" : "behind";
    if (abs_skew > CLOCK_FAIL_S)
        doctor_add(d, "clock", DOCTOR_FAIL,
                   "synchronise the clock (systemd-timesyncd, chrony): AWS refuses signatures "
                   "more than 15 minutes off",
                   "local clock is %ld s %s AWS", abs_skew, dir);
    else if (abs_skew > CLOCK_WARN_S)
        doctor_add(d, "clock", DOCTOR_WARN, "synchronise the clock (systemd-timesyncd, chrony)",
                   "local clock is %ld s %s AWS", abs_skew, dir);
    else
        doctor_add(d, "clock", DOCTOR_OK, NULL, "within %ld s of AWS", abs_skew);
}
