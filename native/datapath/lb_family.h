/* The family-generic datapath headers, compiled once per family (family.h says how): backend rows,
 * conntrack, service lookup, backend choice, fragment tracking and source NAT's port allocation, for IPv4 then IPv6. Include
 * this, not the generic headers themselves. */
#ifndef MAPLB_LB_FAMILY_H
#define MAPLB_LB_FAMILY_H

#include "parse.h"
#include "flow_hash.h"

#define MAPLB_FAMILY 4
#include "family.h"
#include "backend_row.h"
#include "conntrack.h"
#include "service.h"
#include "backend.h"
#include "frag.h"
#include "snat.h"
#undef MAPLB_FAMILY

#define MAPLB_FAMILY 6
#include "family.h"
#include "backend_row.h"
#include "conntrack.h"
#include "service.h"
#include "backend.h"
#include "frag.h"
#include "snat.h"
#undef MAPLB_FAMILY

#endif
