// Everything a program needs to publish and receive on a shmbus bus.
#pragma once

#include "shmbus/client.hpp"
#include "shmbus/clock.hpp"
#include "shmbus/error.hpp"
#include "shmbus/group.hpp"
#include "shmbus/message.hpp"
#include "shmbus/pattern_subscriber.hpp"
#include "shmbus/properties.hpp"
#include "shmbus/publisher.hpp"
#include "shmbus/request_reply.hpp"
#include "shmbus/subscriber.hpp"
#include "shmbus/topic_options.hpp"
#include "shmbus/version.hpp"
#include "shmbus/wait_set.hpp"
