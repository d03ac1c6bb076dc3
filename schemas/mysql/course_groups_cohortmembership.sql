-- course_groups_cohortmembership: final state after edX course_groups migrations 0001..0003
-- (openedx/core/djangoapps/course_groups/migrations). See README.md in this folder.
--
-- Requires course_groups_courseusergroup (course_groups_courseusergroup.sql) first.
-- The foreign key user_id -> auth_user.id that edX has is left out so that this file
-- loads without auth_user.

CREATE TABLE IF NOT EXISTS `course_groups_cohortmembership` (
  -- 0001 CreateModel CohortMembership: id, course_id
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255), no index of its own
  -- 0001 AddField course_user_group (appended): ForeignKey(CourseUserGroup)
  `course_user_group_id` int NOT NULL,
  -- 0001 AddField user (appended): ForeignKey(auth_user); constraint left out, see above
  `user_id` int NOT NULL,
  PRIMARY KEY (`id`),
  -- unique_together (user, course_id) (0001): one cohort per learner and course.
  -- Django's name is hashed, this one is descriptive. It is created before Django adds
  -- the (deferred) foreign keys, so InnoDB uses it for the user_id foreign key too.
  UNIQUE KEY `course_groups_cm_user_id_course_id_uniq` (`user_id`, `course_id`),
  -- index backing the course_user_group_id foreign key (named like the constraint)
  KEY `course_groups_cm_course_user_group_id_fk` (`course_user_group_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `course_groups_cm_course_user_group_id_fk` FOREIGN KEY (`course_user_group_id`)
    REFERENCES `course_groups_courseusergroup` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
