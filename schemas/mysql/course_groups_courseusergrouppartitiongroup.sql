-- course_groups_courseusergrouppartitiongroup: final state after edX course_groups
-- migrations 0001..0003 (openedx/core/djangoapps/course_groups/migrations).
-- See README.md in this folder. It links a cohort to a content group
-- (user partition id, group id).
--
-- Requires course_groups_courseusergroup (course_groups_courseusergroup.sql) first.

CREATE TABLE IF NOT EXISTS `course_groups_courseusergrouppartitiongroup` (
  -- 0001 CreateModel CourseUserGroupPartitionGroup, in its field order
  -- (here the OneToOneField is inside the CreateModel, after the other fields)
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `partition_id` int NOT NULL,                    -- IntegerField: id of the cohorted user partition
  `group_id` int NOT NULL,                        -- IntegerField: id of the group in that partition
  `created_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now_add=True)
  `updated_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now=True)
  `course_user_group_id` int NOT NULL,            -- OneToOneField(CourseUserGroup)
  PRIMARY KEY (`id`),
  -- OneToOneField is unique=True: an inline UNIQUE named after the column; InnoDB also
  -- uses it for the foreign key. So a cohort links to at most one content group.
  UNIQUE KEY `course_user_group_id` (`course_user_group_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `course_groups_cugpg_course_user_group_id_fk` FOREIGN KEY (`course_user_group_id`)
    REFERENCES `course_groups_courseusergroup` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
